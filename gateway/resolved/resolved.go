// Package resolved holds StableRings with the members of their resolved rings, assembled from
// the MemberSlices their status names. It is pure: the sources that read StableRings and
// MemberSlices (package source, the CLI, the test harnesses) assemble with it, and the routing
// table is built from what it holds.
package resolved

import (
	"errors"

	"k8s.io/apimachinery/pkg/types"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
)

// Ring is a StableRing with the members of its resolved ring, assembled from its MemberSlices.
type Ring struct {
	*v1alpha1.StableRing
	// Members are the ring's members in ordinal order.
	Members []v1alpha1.Member
}

// Assemble assembles each of rings from slices (any MemberSlices, matched to a ring by
// namespace and the names its status gives), as [v1alpha1.StableRing.AssembleMembers] does. It
// returns the rings that assemble, in their order, and an error joining the reasons of those
// that do not (nil when all do). The Rings point into rings and share the members' contents
// with slices.
func Assemble(rings []v1alpha1.StableRing, slices []v1alpha1.MemberSlice) ([]Ring, error) {
	byName := make(map[types.NamespacedName]*v1alpha1.MemberSlice, len(slices))
	for i := range slices {
		byName[types.NamespacedName{Namespace: slices[i].Namespace, Name: slices[i].Name}] = &slices[i]
	}
	out := make([]Ring, 0, len(rings))
	var errs []error
	for i := range rings {
		sr := &rings[i]
		members, err := sr.AssembleMembers(func(name string) *v1alpha1.MemberSlice {
			return byName[types.NamespacedName{Namespace: sr.Namespace, Name: name}]
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, Ring{StableRing: sr, Members: members})
	}
	return out, errors.Join(errs...)
}

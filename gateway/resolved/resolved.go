// Package resolved holds StableRings with the members of their resolved rings, assembled from
// the MemberSlices their status names. It is pure: the sources that read StableRings and
// MemberSlices (package source, the CLI, the test harnesses) assemble with it, and the routing
// table is built from what it holds.
package resolved

import (
	"errors"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
)

// Ring is a StableRing with the members of its resolved ring, assembled from its MemberSlices.
type Ring struct {
	*v1alpha1.StableRing
	// Members are the ring's members in ordinal order.
	Members []v1alpha1.Member
}

// Assemble assembles each of rings from slices (any MemberSlices; see [Members]). It returns the
// rings that assemble, in their order, and an error joining the reasons of those that do not
// (nil when all do). The Rings point into rings and share the members' contents with slices.
func Assemble(rings []v1alpha1.StableRing, slices []v1alpha1.MemberSlice) ([]Ring, error) {
	out := make([]Ring, 0, len(rings))
	var errs []error
	for i := range rings {
		members, err := Members(&rings[i], slices)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, Ring{StableRing: &rings[i], Members: members})
	}
	return out, errors.Join(errs...)
}

// Members assembles sr's members from slices, matched to sr by its namespace and the names its
// status gives, as [v1alpha1.StableRing.AssembleMembers] does. The members share their contents
// with slices.
func Members(sr *v1alpha1.StableRing, slices []v1alpha1.MemberSlice) ([]v1alpha1.Member, error) {
	return sr.AssembleMembers(func(name string) *v1alpha1.MemberSlice {
		for i := range slices {
			if slices[i].Namespace == sr.Namespace && slices[i].Name == name {
				return &slices[i]
			}
		}
		return nil
	})
}

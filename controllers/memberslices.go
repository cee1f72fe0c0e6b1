package controllers

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stablering/stablering/api/v1alpha1"
)

// memberSliceRingField indexes MemberSlices by the StableRing they belong to.
const memberSliceRingField = "ring"

// memberSlices returns the MemberSlices of sr in the cache, by name. They are the cache's own
// objects, not copies: they must only be read.
func (r *StableRingReconciler) memberSlices(ctx context.Context, sr *v1alpha1.StableRing) (map[string]*v1alpha1.MemberSlice, error) {
	list := &v1alpha1.MemberSliceList{}
	if err := r.Client.List(ctx, list, client.InNamespace(sr.Namespace), client.MatchingFields{memberSliceRingField: sr.Name},
		client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing the MemberSlices of StableRing %s: %w", sr.Name, err)
	}
	byName := make(map[string]*v1alpha1.MemberSlice, len(list.Items))
	for i := range list.Items {
		byName[list.Items[i].Name] = &list.Items[i]
	}
	return byName, nil
}

// previousMembers are the members of the slices that sr's status names, whatever their versions:
// the controller's own last resolution. A slice ahead of status (its write went through, the
// status write after it did not) holds the newer decision; a slice that is missing (deleted by
// hand) leaves its members to be resolved anew from their pods.
func previousMembers(sr *v1alpha1.StableRing, slices map[string]*v1alpha1.MemberSlice) []v1alpha1.Member {
	var members []v1alpha1.Member
	for _, ref := range sr.Status.MemberSlices {
		if s := slices[ref.Name]; s != nil {
			members = append(members, s.Members...)
		}
	}
	return members
}

// writeSlices creates or updates the slices of want that differ from the cache's (have), with
// optimistic locking, and records each write. The slices are written at once: a rollout batch
// often spans two of them, and each write waits on the API server.
func (r *StableRingReconciler) writeSlices(ctx context.Context, sr *v1alpha1.StableRing, have map[string]*v1alpha1.MemberSlice, want []v1alpha1.MemberSlice) error {
	key := client.ObjectKeyFromObject(sr)
	var g errgroup.Group
	for i := range want {
		old := have[want[i].Name]
		if old != nil && old.Ring == want[i].Ring && old.Version == want[i].Version && metav1.IsControlledBy(old, sr) {
			continue
		}
		slice := want[i].DeepCopy() // the write decodes the answer into it
		g.Go(func() error {
			if old == nil {
				if err := r.Client.Create(ctx, slice); err != nil {
					return fmt.Errorf("creating MemberSlice %s: %w", slice.Name, err)
				}
				r.writes.wroteSlice(key, slice.Name, "")
				return nil
			}
			slice.ResourceVersion = old.ResourceVersion
			if err := r.Client.Update(ctx, slice); err != nil {
				return fmt.Errorf("updating MemberSlice %s: %w", slice.Name, err)
			}
			r.writes.wroteSlice(key, slice.Name, old.ResourceVersion)
			return nil
		})
	}
	return g.Wait()
}

// deleteSurplusSlices deletes the slices of have that want does not have: those of members a
// scale-down removed, once status no longer names them.
func (r *StableRingReconciler) deleteSurplusSlices(ctx context.Context, sr *v1alpha1.StableRing, have map[string]*v1alpha1.MemberSlice, want []v1alpha1.MemberSlice) error {
	keep := make(map[string]bool, len(want))
	for _, s := range want {
		keep[s.Name] = true
	}
	for name, s := range have {
		if keep[name] {
			continue
		}
		gone := &v1alpha1.MemberSlice{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: sr.Namespace}}
		err := r.Client.Delete(ctx, gone, client.Preconditions{UID: &s.UID})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting MemberSlice %s: %w", name, err)
		}
		r.writes.deletedSlice(client.ObjectKeyFromObject(sr), name)
	}
	return nil
}

package ring

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stablering/stablering/api/v1alpha1"
)

// Deferrable reports whether writing status next with members nextMembers in place of prev
// with prevMembers may wait (the controller
// coalesces such writes, see controllers): routing loses nothing by the wait. That is the case
// when the rollout keeps its phase, batch and step, the conditions keep their statuses, and every
// member either keeps its state and, if Serving, its address, or comes to Serving. Members
// leaving Serving, a Serving member moving, steps and pods to delete are never deferred, and a
// member coming to Serving waits at most the coalescing window.
func Deferrable(prev v1alpha1.StableRingStatus, prevMembers []v1alpha1.Member, next v1alpha1.StableRingStatus, nextMembers []v1alpha1.Member) bool {
	if !sameStep(prev.Rollout, next.Rollout) || !sameConditions(prev.Conditions, next.Conditions) ||
		len(prevMembers) != len(nextMembers) || prev.RingVersion == "" {
		return false
	}
	for i, n := range nextMembers {
		p := prevMembers[i]
		switch {
		case p.Ordinal != n.Ordinal:
			return false
		case n.State == v1alpha1.MemberServing && p.State == v1alpha1.MemberServing && p.Address != n.Address:
			return false
		case n.State != v1alpha1.MemberServing && p.State != n.State:
			return false
		}
	}
	return true
}

// sameStep reports whether two rollouts are at the same phase, batch and step.
func sameStep(a, b *v1alpha1.RolloutStatus) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Phase == b.Phase && a.Batch == b.Batch && a.Step == b.Step
}

// sameConditions reports whether the conditions of the same types have the same statuses.
func sameConditions(a, b []metav1.Condition) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Type != b[i].Type || a[i].Status != b[i].Status {
			return false
		}
	}
	return true
}

package ring

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/stablering/stablering/api/v1alpha1"
)

// RolloutOwner returns the StableRing that paces the rollouts of a StatefulSet that rings all
// name: the oldest by creationTimestamp, then the first by name. StableRings being deleted are
// passed over while another one is not. It returns nil for no rings.
func RolloutOwner(rings []v1alpha1.StableRing) *v1alpha1.StableRing {
	var owner *v1alpha1.StableRing
	for i := range rings {
		if sr := &rings[i]; owner == nil || ownsBefore(sr, owner) {
			owner = sr
		}
	}
	return owner
}

// ownsBefore reports whether a has a better claim to a StatefulSet's rollouts than b.
func ownsBefore(a, b *v1alpha1.StableRing) bool {
	if deletingA, deletingB := a.DeletionTimestamp != nil, b.DeletionTimestamp != nil; deletingA != deletingB {
		return deletingB
	}
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return strings.Compare(a.Name, b.Name) < 0
}

// followRollout is the plan of a StableRing whose StatefulSet's rollouts owner paces: the
// rollout as owner's status has it, so the members of owner's batch are Draining or Restarting
// here too, and no pod to delete. The event says so once, when the ring starts following.
func followRollout(ring, owner *v1alpha1.StableRing, sts *appsv1.StatefulSet) rolloutPlan {
	plan := rolloutPlan{status: owner.Status.Rollout.DeepCopy()}
	if c := meta.FindStatusCondition(ring.Status.Conditions, v1alpha1.ConditionProgressing); c == nil || c.Reason != ReasonRolloutOwnedElsewhere {
		plan.events = append(plan.events, Event{Type: corev1.EventTypeNormal, Reason: ReasonRolloutOwnedElsewhere, Action: ActionRollout,
			Message: fmt.Sprintf("StableRing %s also names StatefulSet %s and is older, so it paces the rollouts; this StableRing deletes no pods and shows the members of that rollout as StableRing %s plans them",
				owner.Name, sts.Name, owner.Name)})
	}
	return plan
}

// ownedElsewhereMessage is the Progressing message of ring, whose rollouts owner paces.
func ownedElsewhereMessage(ring, owner *v1alpha1.StableRing, r *v1alpha1.RolloutStatus) string {
	msg := fmt.Sprintf("StableRing %s, the oldest StableRing naming StatefulSet %s, paces its rollouts, so this StableRing deletes no pods and ignores its spec.rollout; "+
		"its members are Draining or Restarting as StableRing %s plans them", owner.Name, ring.Spec.StatefulSetName, owner.Name)
	if r != nil && r.Phase != "" {
		msg += fmt.Sprintf(" (rollout %s", r.Phase)
		if len(r.BatchMembers) > 0 {
			msg += fmt.Sprintf(", batch %d: %s %s", r.Batch, memberOrdinals(r.BatchMembers), r.Step)
		}
		msg += ")"
	}
	if own, theirs := ring.Spec.Rollout.DrainSeconds, owner.Spec.Rollout.DrainSeconds; own > theirs {
		msg += fmt.Sprintf(". Its spec.rollout.drainSeconds (%d) is longer than the %ds of StableRing %s, which times the drains, so gateways routing this StableRing "+
			"may still have WebSockets open when a pod is deleted: set it to %d or less", own, theirs, owner.Name, theirs)
	}
	return msg
}

package ring

import (
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/stablering/stablering/api/v1alpha1"
)

// resolveMembers turns observations into ring members. prev are the members of the last status:
// they tell who has joined, and since when each member has been in its state. rollout is the
// rollout whose batch is Draining or Restarting, nil when no batch counts.
func resolveMembers(obs []observed, prev []v1alpha1.Member, rollout *v1alpha1.RolloutStatus, now time.Time) ([]v1alpha1.Member, []Event) {
	before := make(map[int32]v1alpha1.Member, len(prev))
	for _, m := range prev {
		before[m.Ordinal] = m
	}
	deleted := deletedUIDs(rollout)
	members := make([]v1alpha1.Member, 0, len(obs))
	observedOrdinals := make(map[int32]bool, len(obs))
	var joined, down, left []int32
	for _, o := range obs {
		observedOrdinals[o.ordinal] = true
		old, had := before[o.ordinal]
		joinedBefore := had && old.State.Joined()
		m := v1alpha1.Member{
			Ordinal: o.ordinal,
			Address: o.address,
			State:   memberState(o, joinedBefore, rollout, deleted),
		}
		m.LastTransitionTime = old.LastTransitionTime
		if !had || old.State != m.State || m.LastTransitionTime == nil {
			m.LastTransitionTime = ptrTime(now.Truncate(time.Second))
		}
		members = append(members, m)
		if !joinedBefore && m.State.Joined() {
			joined = append(joined, m.Ordinal)
		}
		if m.State == v1alpha1.MemberDown && (!had || old.State != v1alpha1.MemberDown) {
			down = append(down, m.Ordinal)
		}
	}
	for _, old := range prev {
		if old.State.Joined() && !observedOrdinals[old.Ordinal] {
			left = append(left, old.Ordinal)
		}
	}
	return members, memberEvents(joined, down, left)
}

// memberState is the routing state of observed member o. joined is true once the member has been
// Ready; it never becomes Pending again.
func memberState(o observed, joined bool, r *v1alpha1.RolloutStatus, deleted map[types.UID]bool) v1alpha1.MemberState {
	switch {
	case !joined && !o.ready:
		return v1alpha1.MemberPending
	case !inBatch(r, o.ordinal):
		return readyOr(o, v1alpha1.MemberServing, v1alpha1.MemberDown)
	}
	switch r.Step {
	case v1alpha1.BatchDraining:
		// A batch member that is no longer up is about to be restarted anyway.
		return readyOr(o, v1alpha1.MemberDraining, v1alpha1.MemberRestarting)
	case v1alpha1.BatchRestarting:
		if replaced(o, r.UpdateRevision, deleted) {
			return v1alpha1.MemberServing
		}
		return v1alpha1.MemberRestarting
	case v1alpha1.BatchSettling:
		// The batch is done; a loss now is unplanned.
		return readyOr(o, v1alpha1.MemberServing, v1alpha1.MemberDown)
	default:
		// A step this controller does not know, in a status it has not planned yet (the
		// StatefulSet controller has not caught up, or the owner's): no restart is known to be
		// under way, so a loss is unplanned, as outside a batch. The Progressing condition names
		// the step, and planning drains the batch again.
		return readyOr(o, v1alpha1.MemberServing, v1alpha1.MemberDown)
	}
}

func readyOr(o observed, ready, notReady v1alpha1.MemberState) v1alpha1.MemberState {
	if o.ready {
		return ready
	}
	return notReady
}

// inBatch reports whether ordinal is in the current batch of a rollout that is not stalled. The
// members of a stalled batch that are not Ready are Down: the restart is no longer going to plan,
// so gateways apply spec.unavailable to them instead of holding their rooms indefinitely.
func inBatch(r *v1alpha1.RolloutStatus, ordinal int32) bool {
	return r != nil && r.Phase != v1alpha1.RolloutStalled && slices.Contains(r.BatchMembers, ordinal)
}

// memberEvents are the events of one resolution: one per kind of change, naming every member it
// affects.
func memberEvents(joined, down, left []int32) []Event {
	var events []Event
	if len(joined) > 0 {
		events = append(events, memberEvent(corev1.EventTypeNormal, "MemberJoined", "%s joined the ring", memberOrdinals(joined)))
	}
	if len(down) > 0 {
		events = append(events, memberEvent(corev1.EventTypeWarning, "MemberDown",
			"%s %s Down: not Ready, and no rollout batch is restarting %s; gateways apply spec.unavailable to %s rooms",
			memberOrdinals(down), plural(len(down), "is", "are"), plural(len(down), "it", "them"), plural(len(down), "its", "their")))
	}
	if len(left) > 0 {
		events = append(events, memberEvent(corev1.EventTypeNormal, "MemberLeft", "%s left the ring: the StatefulSet no longer has %s",
			memberOrdinals(left), plural(len(left), "this ordinal", "these ordinals")))
	}
	return events
}

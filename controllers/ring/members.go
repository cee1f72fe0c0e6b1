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
	var events []Event
	for _, o := range obs {
		old, had := before[o.ordinal]
		joined := had && old.State != v1alpha1.MemberPending
		m := v1alpha1.Member{
			Ordinal:  o.ordinal,
			Pod:      o.podName,
			Address:  o.address,
			State:    memberState(o, joined, rollout, deleted),
			Revision: o.revision,
		}
		m.LastTransitionTime = old.LastTransitionTime
		if !had || old.State != m.State || m.LastTransitionTime == nil {
			m.LastTransitionTime = ptrTime(now.Truncate(time.Second))
		}
		members = append(members, m)
		events = append(events, memberEvents(old, had, m)...)
	}
	for _, old := range prev {
		if old.State != v1alpha1.MemberPending && !slices.ContainsFunc(obs, func(o observed) bool { return o.ordinal == old.Ordinal }) {
			events = append(events, memberEvent(corev1.EventTypeNormal, "MemberLeft",
				"member %d (pod %s) left the ring: the StatefulSet no longer has this ordinal", old.Ordinal, old.Pod))
		}
	}
	return members, events
}

// memberState is the routing state of observed member o. joined is true once the member has been
// Ready; it never becomes Pending again.
func memberState(o observed, joined bool, r *v1alpha1.RolloutStatus, deleted map[types.UID]bool) v1alpha1.MemberState {
	switch {
	case !joined && !o.ready:
		return v1alpha1.MemberPending
	case !inBatch(r, o.ordinal):
		return readyOr(o, v1alpha1.MemberServing, v1alpha1.MemberDown)
	case r.Step == v1alpha1.BatchDraining:
		// A batch member that is no longer up is about to be restarted anyway.
		return readyOr(o, v1alpha1.MemberDraining, v1alpha1.MemberRestarting)
	case r.Step == v1alpha1.BatchRestarting:
		if replaced(o, r.UpdateRevision, deleted) {
			return v1alpha1.MemberServing
		}
		return v1alpha1.MemberRestarting
	default: // Settling: the batch is done; a loss now is unplanned
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

func memberEvents(old v1alpha1.Member, had bool, m v1alpha1.Member) []Event {
	var events []Event
	joinedBefore := had && old.State != v1alpha1.MemberPending
	if !joinedBefore && m.State != v1alpha1.MemberPending {
		events = append(events, memberEvent(corev1.EventTypeNormal, "MemberJoined",
			"member %d (pod %s at %s) joined the ring", m.Ordinal, m.Pod, m.Address))
	}
	if m.State == v1alpha1.MemberDown && (!had || old.State != v1alpha1.MemberDown) {
		events = append(events, memberEvent(corev1.EventTypeWarning, "MemberDown",
			"member %d (pod %s) is Down: not Ready outside a rollout batch", m.Ordinal, m.Pod))
	}
	return events
}

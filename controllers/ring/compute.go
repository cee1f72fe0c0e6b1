package ring

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/ringhash"
)

// Input is everything the controller knows about one StableRing at one instant.
type Input struct {
	// Ring is the StableRing: its spec and the status last written. It must not be nil.
	Ring *v1alpha1.StableRing
	// Members are the members of the last resolution, in ordinal order: what the ring's
	// MemberSlices hold. They tell who has joined, and since when each member has been in its
	// state.
	Members []v1alpha1.Member
	// StatefulSet is the StatefulSet the ring names, nil when it does not exist.
	StatefulSet *appsv1.StatefulSet
	// Pods are the StatefulSet's pods. Compute only reads them: they may be an informer cache's own objects.
	Pods []corev1.Pod
	// Now is the current time.
	Now time.Time
	// Owner is the StableRing that paces the StatefulSet's rollouts when it is not Ring (see
	// RolloutOwner), nil when Ring does. A follower deletes no pods: it takes the rollout from the
	// owner's status, so the members the owner is replacing are Draining or Restarting, not Down.
	Owner *v1alpha1.StableRing
}

// Result is what the controller should do.
type Result struct {
	// Status is the StableRing status to persist, after Slices: it names each slice's version.
	Status v1alpha1.StableRingStatus
	// Members are the ring's members, in ordinal order.
	Members []v1alpha1.Member
	// Slices are the MemberSlices that hold Members, to persist before Status. A ring has no
	// other slices: those of a larger ring before are to be deleted once Status is persisted.
	Slices []v1alpha1.MemberSlice
	// Delete are the pods to delete, after Status is persisted.
	Delete []PodRef
	// RequeueAfter is when to compute again although nothing changes; 0 for never.
	RequeueAfter time.Duration
	// Events are to be emitted once Status is persisted.
	Events []Event
}

// wakeSlack is added to RequeueAfter so the next computation finds its timer expired.
const wakeSlack = 10 * time.Millisecond

// Compute resolves the ring and plans the rollout. It reads nothing but its input and changes
// nothing in it.
func Compute(in Input) Result {
	ring, sts := in.Ring, in.StatefulSet
	prev := &ring.Status
	start, replicas := prev.OrdinalsStart, prev.Replicas
	var plan rolloutPlan
	var obs []observed
	switch {
	case sts == nil:
		// Without the StatefulSet, keep the last known members, with no pods: joined members are
		// Down, and the rollout waits as it was.
		obs = observe(ring.Spec.StatefulSetName, start, replicas, nil, ring.Spec.Port)
		plan.status = prev.Rollout.DeepCopy()
	case in.Owner != nil:
		start, replicas = shape(sts)
		obs = observe(sts.Name, start, replicas, in.Pods, ring.Spec.Port)
		plan = followRollout(ring, in.Owner, sts)
	default:
		start, replicas = shape(sts)
		obs = observe(sts.Name, start, replicas, in.Pods, ring.Spec.Port)
		plan = planRollout(rolloutInput{
			spec:            ring.Spec.Rollout,
			replicas:        replicas,
			onDelete:        sts.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType,
			synced:          sts.Status.ObservedGeneration >= sts.Generation && sts.Status.UpdateRevision != "",
			currentRevision: sts.Status.CurrentRevision,
			updateRevision:  sts.Status.UpdateRevision,
			members:         obs,
			prev:            prev.Rollout,
			changed:         ring.Generation != prev.ObservedGeneration || start != prev.OrdinalsStart || replicas != prev.Replicas,
			now:             in.Now,
		})
	}
	batchRollout := plan.status
	if sts == nil {
		batchRollout = nil
	}
	members, events := resolveMembers(obs, in.Members, batchRollout, in.Now)
	if sts == nil && !statefulSetWasMissing(prev) {
		events = append([]Event{statefulSetNotFound(ring, members)}, events...)
	}
	status := v1alpha1.StableRingStatus{
		ObservedGeneration: ring.Generation,
		Replicas:           replicas,
		OrdinalsStart:      start,
		Hash:               ringhash.Spec(&ring.Spec.Hash),
		Rollout:            plan.status,
	}
	slices := memberSlices(ring, members)
	for _, s := range slices {
		status.MemberSlices = append(status.MemberSlices, v1alpha1.MemberSliceRef{Name: s.Name, Version: s.Version})
	}
	for _, m := range members {
		if m.State == v1alpha1.MemberServing {
			status.ReadyMembers++
		}
	}
	if sts != nil {
		for _, o := range obs {
			if o.live() && o.revision == sts.Status.UpdateRevision {
				status.UpdatedMembers++
			}
		}
	}
	status.RingVersion = Version(&status, members)
	status.Conditions = conditions(conditionInput{ring: ring, sts: sts, owner: in.Owner, members: members, obs: obs, plan: plan}, prev.Conditions, in.Now)
	result := Result{Status: status, Members: members, Slices: slices, Delete: plan.delete, Events: append(events, plan.events...)}
	if !plan.wake.IsZero() {
		result.RequeueAfter = max(plan.wake.Sub(in.Now), 0) + wakeSlack
	}
	return result
}

// statefulSetWasMissing reports whether the last status already said the StatefulSet is missing.
func statefulSetWasMissing(prev *v1alpha1.StableRingStatus) bool {
	c := meta.FindStatusCondition(prev.Conditions, v1alpha1.ConditionReady)
	return c != nil && c.Reason == ReasonStatefulSetNotFound
}

// statefulSetNotFound is the warning event of a StableRing whose StatefulSet is (newly) missing.
func statefulSetNotFound(ring *v1alpha1.StableRing, members []v1alpha1.Member) Event {
	var joined []int32
	for _, m := range members {
		if m.State.Joined() {
			joined = append(joined, m.Ordinal)
		}
	}
	effect := "the ring has no members until it exists"
	if len(joined) > 0 {
		effect = fmt.Sprintf("%s %s kept as Down, and gateways apply spec.unavailable to %s rooms", memberOrdinals(joined),
			plural(len(joined), "is", "are"), plural(len(joined), "its", "their"))
	}
	return memberEvent(corev1.EventTypeWarning, ReasonStatefulSetNotFound, "StatefulSet %s does not exist in namespace %s: %s",
		ring.Spec.StatefulSetName, ring.Namespace, effect)
}

// shape returns the StatefulSet's first ordinal and replica count, at most v1alpha1.MaxMembers:
// the ring has the first MaxMembers ordinals, and the condition Degraded says so (see
// desiredReplicas).
func shape(sts *appsv1.StatefulSet) (start, replicas int32) {
	if sts.Spec.Ordinals != nil {
		start = sts.Spec.Ordinals.Start
	}
	return start, min(desiredReplicas(sts), v1alpha1.MaxMembers)
}

// desiredReplicas is the StatefulSet's replica count.
func desiredReplicas(sts *appsv1.StatefulSet) int32 {
	if sts.Spec.Replicas != nil {
		return *sts.Spec.Replicas
	}
	return 1
}

package ring

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/stablering/stablering/api/v1alpha1"
)

func namedRing(name string, created time.Time) v1alpha1.StableRing {
	return v1alpha1.StableRing{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID("uid-" + name), CreationTimestamp: metav1.NewTime(created)}}
}

func TestRolloutOwner(t *testing.T) {
	deleting := namedRing("a-old", t0.Add(-time.Hour))
	deleting.DeletionTimestamp = mtime(t0)
	tests := []struct {
		name  string
		rings []v1alpha1.StableRing
		want  string
	}{
		{"none", nil, ""},
		{"one", []v1alpha1.StableRing{namedRing("chat", t0)}, "chat"},
		{"the oldest", []v1alpha1.StableRing{namedRing("a", t0.Add(time.Second)), namedRing("b", t0), namedRing("c", t0.Add(time.Minute))}, "b"},
		{"ties by name", []v1alpha1.StableRing{namedRing("rooms", t0), namedRing("chat", t0)}, "chat"},
		{"not one being deleted", []v1alpha1.StableRing{deleting, namedRing("b", t0)}, "b"},
		{"all being deleted", []v1alpha1.StableRing{deleting}, "a-old"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			if owner := RolloutOwner(tt.rings); owner != nil {
				got = owner.Name
			}
			if got != tt.want {
				t.Errorf("RolloutOwner = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestComputeFollowsTheOwnersRollout runs a rollout of two StableRings over one StatefulSet: the
// owner plans and deletes, the follower deletes nothing and shows the owner's batch as planned.
func TestComputeFollowsTheOwnersRollout(t *testing.T) {
	owner := testRing(intstr.FromString("http"))
	follower := testRing(intstr.FromString("http"))
	follower.Name = "chat-rooms"
	follower.Spec.Rollout = rolloutSpec(intstr.FromInt32(1)) // ignored: the owner's spec paces
	sts := testStatefulSet(3, appsv1.OnDeleteStatefulSetStrategyType)
	sts.Status.UpdateRevision = oldRev
	pods := testPods(3)
	follow := func(now time.Time) Result {
		t.Helper()
		res := Compute(Input{Ring: follower, Members: resolved[follower], StatefulSet: sts, Pods: pods, Owner: owner, Now: now})
		follower.Status, resolved[follower] = res.Status, res.Members
		if len(res.Delete) > 0 {
			t.Fatalf("the follower deletes %v", podNames(res.Delete))
		}
		return res
	}
	compute(t, owner, sts, pods, t0)
	res := follow(t0)
	requireEvents(t, res.Events, "MemberJoined: members 0, 1, 2 joined the ring",
		"RolloutOwnedElsewhere: StableRing chat also names StatefulSet chat and is older, so it paces the rollouts; this StableRing deletes no pods and shows the members of that rollout as StableRing chat plans them")
	requireCondition(t, res.Status, v1alpha1.ConditionProgressing, metav1.ConditionFalse, ReasonRolloutOwnedElsewhere, "StableRing chat, the oldest StableRing naming StatefulSet chat", "(rollout Complete)")

	t.Log("a new revision: the owner drains batch 1 (members 2, 1), the follower shows them Draining")
	sts.Status.UpdateRevision = newRev
	now := t0.Add(time.Second)
	if got := compute(t, owner, sts, pods, now); len(got.Delete) != 0 || owner.Status.Rollout.Step != v1alpha1.BatchDraining {
		t.Fatalf("owner: step %s, deletes %v", owner.Status.Rollout.Step, podNames(got.Delete))
	}
	res = follow(now)
	if len(res.Events) != 0 {
		t.Errorf("events %v, want none: the follower said once that it follows", eventReasons(res.Events))
	}
	want := map[int32]v1alpha1.MemberState{0: v1alpha1.MemberServing, 1: v1alpha1.MemberDraining, 2: v1alpha1.MemberDraining}
	if diff := cmp.Diff(want, states(res.Members)); diff != "" {
		t.Errorf("follower states (-want +got):\n%s", diff)
	}
	requireCondition(t, res.Status, v1alpha1.ConditionProgressing, metav1.ConditionFalse, ReasonRolloutOwnedElsewhere, "batch 1: members 2, 1 Draining")
	requireCondition(t, res.Status, v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonMembersNotServing)
	if c := meta.FindStatusCondition(res.Status.Conditions, v1alpha1.ConditionProgressing); strings.Contains(c.Message, "drainSeconds") {
		t.Errorf("Progressing message %q warns about drainSeconds, which are equal", c.Message)
	}
	follower.Spec.Rollout.DrainSeconds = 30
	res = follow(now)
	requireCondition(t, res.Status, v1alpha1.ConditionProgressing, metav1.ConditionFalse, ReasonRolloutOwnedElsewhere,
		"Its spec.rollout.drainSeconds (30) is longer than the 10s of StableRing chat", "set it to 10 or less")
	follower.Spec.Rollout.DrainSeconds = 10

	t.Log("the owner deletes the batch's pods: the follower shows them Restarting, not Down")
	now = now.Add(12 * time.Second)
	got := compute(t, owner, sts, pods, now)
	if diff := cmp.Diff([]string{"chat-2", "chat-1"}, podNames(got.Delete)); diff != "" {
		t.Fatalf("owner deletes (-want +got):\n%s", diff)
	}
	for _, i := range []int{1, 2} {
		pods[i].DeletionTimestamp = mtime(now)
		pods[i].Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
	}
	res = follow(now)
	want = map[int32]v1alpha1.MemberState{0: v1alpha1.MemberServing, 1: v1alpha1.MemberRestarting, 2: v1alpha1.MemberRestarting}
	if diff := cmp.Diff(want, states(res.Members)); diff != "" {
		t.Errorf("follower states (-want +got):\n%s", diff)
	}
	requireCondition(t, res.Status, v1alpha1.ConditionDegraded, metav1.ConditionFalse, ReasonAsExpected)
	if len(res.Events) != 0 {
		t.Errorf("events %v, want none", eventReasons(res.Events))
	}

	t.Log("the replacements are Ready; the owner goes: the follower takes over and deletes nothing twice")
	pods[1] = testPod(1, newRev, true, "10.0.0.2")
	pods[2] = testPod(2, newRev, true, "10.0.0.3")
	now = now.Add(5 * time.Second)
	res = Compute(Input{Ring: follower, Members: resolved[follower], StatefulSet: sts, Pods: pods, Now: now})
	follower.Status, resolved[follower] = res.Status, res.Members
	if diff := cmp.Diff([]string(nil), podNames(res.Delete)); diff != "" {
		t.Errorf("new owner deletes (-want +got):\n%s", diff)
	}
	if r := res.Status.Rollout; r.Batch != 1 || r.Step != v1alpha1.BatchSettling {
		t.Errorf("new owner's rollout = batch %d %s, want batch 1 Settling (the owner's batch, carried on)", r.Batch, r.Step)
	}
	now = now.Add(2 * time.Second)
	res = Compute(Input{Ring: follower, Members: resolved[follower], StatefulSet: sts, Pods: pods, Now: now})
	if len(res.Delete) != 0 {
		t.Errorf("new owner deletes %v while draining", podNames(res.Delete))
	}
	if r := res.Status.Rollout; r.Batch != 2 || r.Step != v1alpha1.BatchDraining || !cmp.Equal(r.BatchMembers, []int32{0}) {
		t.Errorf("new owner's rollout = batch %d %v %s, want batch 2 [0] Draining (its own batchSize 1)", r.Batch, r.BatchMembers, r.Step)
	}
	requireCondition(t, res.Status, v1alpha1.ConditionProgressing, metav1.ConditionTrue, ReasonBatchProgressing)
}

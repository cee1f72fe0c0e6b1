package ring

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/stablering/stablering/api/v1alpha1"
)

// resolved holds the members each test ring last resolved to, as its MemberSlices would.
var resolved = map[*v1alpha1.StableRing][]v1alpha1.Member{}

// compute runs Compute on ring and feeds the resulting status and members back, as the
// controller's writes of the ring's MemberSlices and status would.
func compute(t *testing.T, ring *v1alpha1.StableRing, sts *appsv1.StatefulSet, pods []corev1.Pod, now time.Time) Result {
	t.Helper()
	res := Compute(Input{Ring: ring, Members: resolved[ring], StatefulSet: sts, Pods: pods, Now: now})
	ring.Status, resolved[ring] = res.Status, res.Members
	return res
}

func states(ms []v1alpha1.Member) map[int32]v1alpha1.MemberState {
	out := map[int32]v1alpha1.MemberState{}
	for _, m := range ms {
		out[m.Ordinal] = m.State
	}
	return out
}

func eventReasons(events []Event) []string {
	var reasons []string
	for _, e := range events {
		reasons = append(reasons, e.Reason)
	}
	return reasons
}

// requireEvents checks events, given as "Reason: message", in order.
func requireEvents(t *testing.T, events []Event, want ...string) {
	t.Helper()
	var got []string
	for _, e := range events {
		got = append(got, e.Reason+": "+e.Message)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func requireCondition(t *testing.T, st v1alpha1.StableRingStatus, conditionType string, status metav1.ConditionStatus, reason string, messageParts ...string) {
	t.Helper()
	c := meta.FindStatusCondition(st.Conditions, conditionType)
	if c == nil {
		t.Fatalf("no %s condition", conditionType)
	}
	if c.Status != status || c.Reason != reason {
		t.Errorf("%s = %s/%s (%q), want %s/%s", conditionType, c.Status, c.Reason, c.Message, status, reason)
	}
	for _, part := range messageParts {
		if !strings.Contains(c.Message, part) {
			t.Errorf("%s message %q does not contain %q", conditionType, c.Message, part)
		}
	}
}

func TestComputeResolvesAStableRing(t *testing.T) {
	ring := testRing(intstr.FromString("http"))
	sts := testStatefulSet(3, appsv1.OnDeleteStatefulSetStrategyType)
	sts.Status.UpdateRevision = oldRev
	res := compute(t, ring, sts, testPods(3), t0)
	st := res.Status
	want := []v1alpha1.Member{
		{Ordinal: 0, Address: "10.0.0.1:8080", State: v1alpha1.MemberServing, LastTransitionTime: mtime(t0.Truncate(time.Second))},
		{Ordinal: 1, Address: "10.0.0.2:8080", State: v1alpha1.MemberServing, LastTransitionTime: mtime(t0.Truncate(time.Second))},
		{Ordinal: 2, Address: "10.0.0.3:8080", State: v1alpha1.MemberServing, LastTransitionTime: mtime(t0.Truncate(time.Second))},
	}
	if diff := cmp.Diff(want, res.Members); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
	if st.ObservedGeneration != 1 || st.Replicas != 3 || st.ReadyMembers != 3 || st.UpdatedMembers != 3 || st.RingVersion == "" {
		t.Errorf("status = %+v", st)
	}
	if diff := cmp.Diff(&v1alpha1.HashSpec{Algorithm: v1alpha1.AlgorithmJump}, st.Hash); diff != "" {
		t.Errorf("hash (-want +got):\n%s", diff)
	}
	requireEvents(t, res.Events, "MemberJoined: members 0, 1, 2 joined the ring")
	requireCondition(t, st, v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonAllMembersServing, "all 3 members are Serving")
	requireCondition(t, st, v1alpha1.ConditionProgressing, metav1.ConditionFalse, ReasonRolloutComplete, oldRev)
	requireCondition(t, st, v1alpha1.ConditionDegraded, metav1.ConditionFalse, ReasonAsExpected)
	if res.RequeueAfter != 0 || len(res.Delete) != 0 {
		t.Errorf("requeue %v, delete %v; want neither", res.RequeueAfter, res.Delete)
	}
}

// TestComputeIsAFixpoint checks the controller writes status only when something changed:
// computing again from the written status at a later time yields an equal status.
func TestComputeIsAFixpoint(t *testing.T) {
	ring := testRing(intstr.FromInt32(8080))
	sts := testStatefulSet(6, appsv1.OnDeleteStatefulSetStrategyType)
	pods := testPods(6)
	pods[1].Status.Conditions[0].Status = corev1.ConditionFalse
	compute(t, ring, sts, pods, t0)
	first := ring.Status.DeepCopy()
	second := compute(t, ring, sts, pods, t0.Add(2*time.Second)).Status
	if !equality.Semantic.DeepEqual(*first, second) {
		t.Errorf("status changed without a change of input:\n%s", cmp.Diff(*first, second))
	}
}

func TestComputeMemberStates(t *testing.T) {
	ring := testRing(intstr.FromInt32(8080))
	sts := testStatefulSet(6, appsv1.OnDeleteStatefulSetStrategyType)
	pods := testPods(6)
	pods[5].Status.Conditions[0].Status = corev1.ConditionFalse // never Ready yet
	pods = pods[:5]
	pods = append(pods, testPod(5, oldRev, false, ""))
	sts.Status.UpdateRevision = oldRev // no rollout yet
	res := compute(t, ring, sts, pods, t0)
	if got := states(res.Members)[5]; got != v1alpha1.MemberPending {
		t.Errorf("member 5 never Ready is %s, want Pending", got)
	}
	if res.Members[5].Address != "" {
		t.Errorf("member without IP has address %q", res.Members[5].Address)
	}
	requireCondition(t, res.Status, v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonAllMembersServing, "1 Pending member joins", "5 (chat-5)")
	sts.Status.UpdateRevision = newRev
	res = compute(t, ring, sts, pods, t0)
	// The batch [5, 4] starts: 4 is Draining, 5 stays Pending (it has not joined).
	if got := states(res.Members); got[4] != v1alpha1.MemberDraining || got[3] != v1alpha1.MemberServing {
		t.Errorf("states = %v, want 4 Draining, 3 Serving", got)
	}
	requireCondition(t, res.Status, v1alpha1.ConditionProgressing, metav1.ConditionTrue, ReasonBatchProgressing, "batch 1 (members 5, 4) is Draining")
	requireCondition(t, res.Status, v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonMembersNotServing, "4 (chat-4, Draining)")

	// Member 2 fails outside the batch: Down.
	pods[2].Status.Conditions[0].Status = corev1.ConditionFalse
	res = compute(t, ring, sts, pods, t0.Add(time.Second))
	if got := states(res.Members)[2]; got != v1alpha1.MemberDown {
		t.Errorf("member 2 not Ready outside a batch is %s, want Down", got)
	}
	requireCondition(t, res.Status, v1alpha1.ConditionDegraded, metav1.ConditionTrue, ReasonMembersDown, "member 2 (chat-2) is Down", "hold its rooms for 60s")
	requireEvents(t, res.Events, "MemberDown: member 2 is Down: not Ready, and no rollout batch is restarting it; gateways apply spec.unavailable to its rooms")

	// The drain ends: 4's pod is deleted, 4 is Restarting; 2 is still Down.
	res = compute(t, ring, sts, pods, t0.Add(20*time.Second))
	if got := states(res.Members); got[4] != v1alpha1.MemberRestarting || got[2] != v1alpha1.MemberDown {
		t.Errorf("states = %v, want 4 Restarting and 2 Down", got)
	}
	if diff := cmp.Diff([]string{"chat-5", "chat-4"}, podNames(res.Delete)); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
	// 4 is recreated at the update revision and Ready: Serving again; 2 recovers.
	pods[4] = testPod(4, newRev, true, "10.0.0.44")
	pods[2].Status.Conditions[0].Status = corev1.ConditionTrue
	res = compute(t, ring, sts, pods, t0.Add(21*time.Second))
	if got := states(res.Members); got[4] != v1alpha1.MemberServing || got[2] != v1alpha1.MemberServing || got[5] != v1alpha1.MemberPending {
		t.Errorf("states = %v, want 4 and 2 Serving, 5 Pending", got)
	}
	// A joined member is never Pending again.
	pods[4].Status.Conditions[0].Status = corev1.ConditionFalse
	res = compute(t, ring, sts, pods, t0.Add(22*time.Second))
	if got := states(res.Members)[4]; got == v1alpha1.MemberPending {
		t.Errorf("joined member 4 became Pending")
	}
}

func podNames(refs []PodRef) []string {
	var names []string
	for _, r := range refs {
		names = append(names, r.Name)
	}
	return names
}

func TestComputeIPChangeKeepsIdentity(t *testing.T) {
	ring := testRing(intstr.FromString("http"))
	sts := testStatefulSet(3, appsv1.OnDeleteStatefulSetStrategyType)
	sts.Status.UpdateRevision = oldRev
	pods := testPods(3)
	first := compute(t, ring, sts, pods, t0)
	before := ring.Status.DeepCopy()
	pods[1].Status.PodIP = "10.9.9.9"
	after := compute(t, ring, sts, pods, t0.Add(time.Minute))
	wantMembers := slices.Clone(first.Members)
	wantMembers[1].Address = "10.9.9.9:8080"
	if diff := cmp.Diff(wantMembers, after.Members); diff != "" {
		t.Errorf("an IP change changed more than the address (-want +got):\n%s", diff)
	}
	want := before.DeepCopy()
	want.RingVersion = after.Status.RingVersion
	want.MemberSlices = after.Status.MemberSlices
	if diff := cmp.Diff(want, &after.Status); diff != "" {
		t.Errorf("an IP change changed more of the status than the versions (-want +got):\n%s", diff)
	}
	if after.Status.MemberSlices[0].Version == before.MemberSlices[0].Version {
		t.Errorf("an IP change kept the MemberSlice's version %s", before.MemberSlices[0].Version)
	}
	if after.Status.RingVersion == before.RingVersion {
		t.Errorf("an IP change kept ring version %s", before.RingVersion)
	}
	if len(after.Events) != 0 {
		t.Errorf("events %v on an IP change", eventReasons(after.Events))
	}
}

func TestComputeScaling(t *testing.T) {
	ring := testRing(intstr.FromInt32(8080))
	sts := testStatefulSet(3, appsv1.OnDeleteStatefulSetStrategyType)
	sts.Status.UpdateRevision = oldRev
	compute(t, ring, sts, testPods(3), t0)

	sts.Spec.Replicas = ptr.To[int32](5)
	pods := append(testPods(3), testPod(3, oldRev, false, "10.0.0.4"))
	res := compute(t, ring, sts, pods, t0.Add(time.Second))
	if got := states(res.Members); len(got) != 5 || got[3] != v1alpha1.MemberPending || got[4] != v1alpha1.MemberPending {
		t.Errorf("after scale-up states = %v, want 3 and 4 Pending", got)
	}
	version := res.Status.RingVersion
	pods[3].Status.PodIP = "10.0.0.40" // a Pending member's address does not route
	if res = compute(t, ring, sts, pods, t0.Add(2*time.Second)); res.Status.RingVersion != version {
		t.Errorf("a Pending member changed the ring version")
	}
	pods = testPods(5)
	res = compute(t, ring, sts, pods, t0.Add(3*time.Second))
	requireEvents(t, res.Events, "MemberJoined: members 3, 4 joined the ring")

	sts.Spec.Replicas = ptr.To[int32](2)
	res = compute(t, ring, sts, pods[:2], t0.Add(4*time.Second))
	if got := states(res.Members); len(got) != 2 {
		t.Errorf("after scale-down states = %v, want 2 members", got)
	}
	requireEvents(t, res.Events, "MemberLeft: members 2, 3, 4 left the ring: the StatefulSet no longer has these ordinals")
}

func TestComputeOrdinalsStart(t *testing.T) {
	ring := testRing(intstr.FromInt32(8080))
	sts := testStatefulSet(2, appsv1.OnDeleteStatefulSetStrategyType)
	sts.Status.UpdateRevision = oldRev
	sts.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 3}
	pods := []corev1.Pod{testPod(3, oldRev, true, "10.0.0.4"), testPod(4, oldRev, true, "10.0.0.5"), testPod(0, oldRev, true, "10.0.0.1")}
	res := compute(t, ring, sts, pods, t0)
	if ms := res.Members; res.Status.OrdinalsStart != 3 || len(ms) != 2 || ms[0].Ordinal != 3 || ms[1].Ordinal != 4 {
		t.Errorf("members = %+v, want ordinals 3 and 4", ms)
	}
}

func TestComputeMatchesPodsByLabelThenName(t *testing.T) {
	ring := testRing(intstr.FromInt32(8080))
	sts := testStatefulSet(3, appsv1.OnDeleteStatefulSetStrategyType)
	sts.Status.UpdateRevision = oldRev
	pods := testPods(3)
	delete(pods[0].Labels, appsv1.PodIndexLabel)       // older clusters: name only
	pods[1].Labels[appsv1.PodIndexLabel] = "2"         // label wins over name
	pods[2].Labels[appsv1.PodIndexLabel] = "1"         //
	unrelated := testPod(7, oldRev, true, "10.0.0.99") // outside the ring
	unrelated.Name, unrelated.Labels = "chat-07", nil  // not a StatefulSet name
	ms := compute(t, ring, sts, append(pods, unrelated), t0).Members
	got := []string{ms[0].Address, ms[1].Address, ms[2].Address}
	if diff := cmp.Diff([]string{"10.0.0.1:8080", "10.0.0.3:8080", "10.0.0.2:8080"}, got); diff != "" {
		t.Errorf("members' addresses, which tell their pods (-want +got):\n%s", diff)
	}
}

func TestComputeNamedPorts(t *testing.T) {
	sts := testStatefulSet(2, appsv1.OnDeleteStatefulSetStrategyType)
	sts.Status.UpdateRevision = oldRev
	for _, tc := range []struct {
		port    intstr.IntOrString
		address string
	}{
		{intstr.FromString("http"), "10.0.0.1:8080"},
		{intstr.FromString("admin"), "10.0.0.1:9090"},
		{intstr.FromInt32(7000), "10.0.0.1:7000"},
		{intstr.FromString("nope"), ""},
	} {
		ring := testRing(tc.port)
		res := compute(t, ring, sts, testPods(2), t0)
		if res.Members[0].Address != tc.address {
			t.Errorf("port %s: address %q, want %q", tc.port.String(), res.Members[0].Address, tc.address)
		}
		if tc.address == "" {
			requireCondition(t, res.Status, v1alpha1.ConditionDegraded, metav1.ConditionTrue, ReasonPortNotFound, `"nope"`, "chat-0, chat-1")
		}
	}
	// A sidecar's port counts, as it does for a Service; a plain init container's does not.
	pods := testPods(2)
	pods[0].Spec.InitContainers = []corev1.Container{{Name: "proxy", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
		Ports: []corev1.ContainerPort{{Name: "proxy", ContainerPort: 15001}}}}
	pods[1].Spec.InitContainers = []corev1.Container{{Name: "setup", Ports: []corev1.ContainerPort{{Name: "proxy", ContainerPort: 15001}}}}
	ms := compute(t, testRing(intstr.FromString("proxy")), sts, pods, t0).Members
	if ms[0].Address != "10.0.0.1:15001" || ms[1].Address != "" {
		t.Errorf("addresses with a sidecar port: %q and %q, want 10.0.0.1:15001 and none", ms[0].Address, ms[1].Address)
	}

	ring := testRing(intstr.FromString("http"))
	pods = testPods(1)
	pods[0].Status.PodIP = "fd00::1"
	sts.Spec.Replicas = ptr.To[int32](1)
	if got := compute(t, ring, sts, pods, t0).Members[0].Address; got != "[fd00::1]:8080" {
		t.Errorf("IPv6 address %q", got)
	}
}

func TestComputeMissingStatefulSet(t *testing.T) {
	ring := testRing(intstr.FromInt32(8080))
	sts := testStatefulSet(3, appsv1.OnDeleteStatefulSetStrategyType)
	sts.Status.UpdateRevision = oldRev
	pods := testPods(3)
	pods[2].Status.Conditions[0].Status = corev1.ConditionFalse
	compute(t, ring, sts, pods, t0)

	res := compute(t, ring, nil, nil, t0.Add(time.Second))
	st := res.Status
	if diff := cmp.Diff(map[int32]v1alpha1.MemberState{0: v1alpha1.MemberDown, 1: v1alpha1.MemberDown, 2: v1alpha1.MemberPending}, states(res.Members)); diff != "" {
		t.Errorf("states without StatefulSet (-want +got):\n%s", diff)
	}
	if st.Replicas != 3 || st.ReadyMembers != 0 || st.UpdatedMembers != 0 {
		t.Errorf("status = %+v", st)
	}
	requireCondition(t, st, v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonStatefulSetNotFound, "chat does not exist")
	requireCondition(t, st, v1alpha1.ConditionProgressing, metav1.ConditionFalse, ReasonStatefulSetNotFound)
	requireCondition(t, st, v1alpha1.ConditionDegraded, metav1.ConditionTrue, ReasonStatefulSetNotFound, "its 2 joined members are kept as Down", "create a new StableRing")

	// Recreated: the members come back with their new pods.
	pods = testPods(3)
	st = compute(t, ring, sts, pods, t0.Add(2*time.Second)).Status
	requireCondition(t, st, v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonAllMembersServing)
	requireCondition(t, st, v1alpha1.ConditionDegraded, metav1.ConditionFalse, ReasonAsExpected)

	// A StableRing created before its StatefulSet has no members at all.
	fresh := testRing(intstr.FromInt32(8080))
	res = compute(t, fresh, nil, nil, t0)
	st = res.Status
	if len(res.Members) != 0 || len(st.MemberSlices) != 0 {
		t.Errorf("members %+v in %v without a StatefulSet ever seen", res.Members, st.MemberSlices)
	}
	requireCondition(t, st, v1alpha1.ConditionDegraded, metav1.ConditionTrue, ReasonStatefulSetNotFound)
}

func TestComputeRollingUpdate(t *testing.T) {
	ring := testRing(intstr.FromInt32(8080))
	sts := testStatefulSet(3, appsv1.RollingUpdateStatefulSetStrategyType)
	pods := testPods(3)
	res := compute(t, ring, sts, pods, t0)
	if len(res.Delete) != 0 || res.Status.Rollout.Phase != v1alpha1.RolloutDisabled {
		t.Errorf("RollingUpdate: rollout %+v, delete %v", res.Status.Rollout, res.Delete)
	}
	requireCondition(t, res.Status, v1alpha1.ConditionProgressing, metav1.ConditionFalse, ReasonRollingUpdateStrategy, "OnDelete")
	requireCondition(t, res.Status, v1alpha1.ConditionDegraded, metav1.ConditionTrue, ReasonRollingUpdateStrategy, "uses updateStrategy RollingUpdate")
	// The StatefulSet controller restarts a pod: Down, not Restarting.
	pods[2] = testPod(2, newRev, false, "10.0.0.30")
	res = compute(t, ring, sts, pods, t0.Add(time.Second))
	if got := states(res.Members)[2]; got != v1alpha1.MemberDown {
		t.Errorf("member restarted by RollingUpdate is %s, want Down", got)
	}
	requireCondition(t, res.Status, v1alpha1.ConditionDegraded, metav1.ConditionTrue, ReasonMembersDown, "uses updateStrategy RollingUpdate")
}

func TestComputeWaitsForTheStatefulSetController(t *testing.T) {
	ring := testRing(intstr.FromInt32(8080))
	sts := testStatefulSet(3, appsv1.OnDeleteStatefulSetStrategyType)
	sts.Status = appsv1.StatefulSetStatus{}
	res := compute(t, ring, sts, testPods(3), t0)
	if res.Status.Rollout != nil || len(res.Delete) != 0 {
		t.Errorf("rollout %+v, delete %v before the StatefulSet controller reported", res.Status.Rollout, res.Delete)
	}
	requireCondition(t, res.Status, v1alpha1.ConditionProgressing, metav1.ConditionUnknown, ReasonWaitingForStatefulSet)
}

func TestComputeConditionsOfARollout(t *testing.T) {
	ring := testRing(intstr.FromInt32(8080))
	ring.Spec.Rollout.PauseSeconds = 5
	sts := testStatefulSet(4, appsv1.OnDeleteStatefulSetStrategyType)
	pods := testPods(4)
	pods[0].Status.Conditions[0].Status = corev1.ConditionFalse
	compute(t, ring, sts, pods, t0) // 0 never Ready: Pending, and it blocks the first batch
	res := compute(t, ring, sts, pods, t0)
	requireCondition(t, res.Status, v1alpha1.ConditionProgressing, metav1.ConditionTrue, ReasonWaitingForMembers,
		"batch 1 (members 3, 2)", "0 (chat-0, Pending)", "If it cannot become Ready at its current revision, delete its pod")

	pods[0].Status.Conditions[0].Status = corev1.ConditionTrue
	res = compute(t, ring, sts, pods, t0)
	if res.RequeueAfter != s0.Sub(t0)+10*time.Second+PublishLead+wakeSlack {
		t.Errorf("RequeueAfter = %v", res.RequeueAfter)
	}
	res = compute(t, ring, sts, pods, t0.Add(12*time.Second))
	requireCondition(t, res.Status, v1alpha1.ConditionProgressing, metav1.ConditionTrue, ReasonBatchProgressing,
		"is Restarting: waiting for pods chat-3, chat-2 to be Ready at revision "+newRev)
	pods[3], pods[2] = testPod(3, newRev, true, "10.0.0.33"), testPod(2, newRev, true, "10.0.0.32")
	res = compute(t, ring, sts, pods, t0.Add(13*time.Second))
	requireCondition(t, res.Status, v1alpha1.ConditionProgressing, metav1.ConditionTrue, ReasonBatchProgressing, "is Ready at revision", "pauseSeconds")

	ring.Spec.Rollout.Paused = true
	ring.Generation++
	res = compute(t, ring, sts, pods, t0.Add(30*time.Second))
	requireCondition(t, res.Status, v1alpha1.ConditionProgressing, metav1.ConditionFalse, ReasonRolloutPaused, "2 members still run an older revision")
	if res.Status.Conditions[0].ObservedGeneration != 2 {
		t.Errorf("condition observedGeneration %d, want 2", res.Status.Conditions[0].ObservedGeneration)
	}

	ring.Spec.Rollout.Paused = false
	ring.Generation++
	compute(t, ring, sts, pods, t0.Add(31*time.Second))
	res = compute(t, ring, sts, pods, t0.Add(45*time.Second)) // batch 2 deleted, never comes back
	res = compute(t, ring, sts, pods, t0.Add(200*time.Second))
	requireCondition(t, res.Status, v1alpha1.ConditionProgressing, metav1.ConditionFalse, ReasonProgressDeadlineExceeded)
	requireCondition(t, res.Status, v1alpha1.ConditionDegraded, metav1.ConditionTrue, ReasonProgressDeadlineExceeded,
		"batch 2 (members 1, 0)", "not Ready: chat-1, chat-0", "raise progressDeadlineSeconds")
	if got := states(res.Members); got[1] != v1alpha1.MemberServing {
		// chat-1 was never really deleted in this test, so it is still Ready at the old revision.
		t.Errorf("states = %v", got)
	}
}

func TestConditionMessagesListAtMostEightMembers(t *testing.T) {
	var ms []v1alpha1.Member
	for i := range int32(10) {
		ms = append(ms, v1alpha1.Member{Ordinal: i, State: v1alpha1.MemberDown})
	}
	got := conditionInput{ring: testRing(intstr.FromInt32(8080))}.listMembers(ms, true)
	if !strings.HasSuffix(got, "7 (chat-7, Down), and 2 more") {
		t.Errorf("listMembers = %q", got)
	}
}

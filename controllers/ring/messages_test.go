package ring

import (
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/stablering/stablering/api/v1alpha1"
)

// noteLimit is the most bytes the API server accepts in an event's note.
const noteLimit = 1024

// requireOneEventPerReason checks that no two events share a reason: client-go would fold them
// into one series showing only the first message.
func requireOneEventPerReason(t *testing.T, events []Event) {
	t.Helper()
	seen := map[string]bool{}
	for _, e := range events {
		if seen[e.Reason] {
			t.Errorf("two %s events in one computation: %v", e.Reason, events)
		}
		seen[e.Reason] = true
		if len(e.Message) > noteLimit {
			t.Errorf("%s event message of %d bytes, more than an event note may have", e.Reason, len(e.Message))
		}
	}
}

func TestEventsNameEveryMemberOfAChange(t *testing.T) {
	ring := testRing(intstr.FromInt32(8080))
	sts := testStatefulSet(5, appsv1.OnDeleteStatefulSetStrategyType)
	sts.Status.UpdateRevision = oldRev
	pods := testPods(5)

	res := compute(t, ring, sts, pods, t0)
	requireOneEventPerReason(t, res.Events)
	requireEvents(t, res.Events, "MemberJoined: members 0, 1, 2, 3, 4 joined the ring")

	pods[1].Status.Conditions[0].Status = corev1.ConditionFalse
	pods[3].Status.Conditions[0].Status = corev1.ConditionFalse
	res = compute(t, ring, sts, pods, t0.Add(time.Second))
	requireOneEventPerReason(t, res.Events)
	requireEvents(t, res.Events, "MemberDown: members 1, 3 are Down: not Ready, and no rollout batch is restarting them; gateways apply spec.unavailable to their rooms")

	sts.Spec.Replicas = ptr.To[int32](2)
	res = compute(t, ring, sts, pods[:2], t0.Add(2*time.Second))
	requireOneEventPerReason(t, res.Events)
	requireEvents(t, res.Events, "MemberLeft: members 2, 3, 4 left the ring: the StatefulSet no longer has these ordinals")

	sts.Spec.Replicas = ptr.To[int32](1)
	res = compute(t, ring, sts, pods[:1], t0.Add(3*time.Second))
	requireEvents(t, res.Events, "MemberLeft: member 1 left the ring: the StatefulSet no longer has this ordinal")
}

func TestEventsOfALargeRingFitANote(t *testing.T) {
	ring := testRing(intstr.FromInt32(8080))
	sts := testStatefulSet(300, appsv1.OnDeleteStatefulSetStrategyType)
	sts.Status.UpdateRevision = oldRev
	pods := make([]corev1.Pod, 0, 300)
	for i := range int32(300) {
		pods = append(pods, testPod(i, oldRev, true, fmt.Sprintf("10.0.%d.%d", i/200, i%200+1)))
	}
	res := compute(t, ring, sts, pods, t0)
	requireOneEventPerReason(t, res.Events)
	requireEvents(t, res.Events, "MemberJoined: members 0-299 joined the ring")

	// Every other member goes Down: no runs, so the list ends with a count.
	for i := 0; i < 300; i += 2 {
		pods[i].Status.Conditions[0].Status = corev1.ConditionFalse
	}
	res = compute(t, ring, sts, pods, t0.Add(time.Second))
	requireOneEventPerReason(t, res.Events)
	if len(res.Events) != 1 || !strings.HasPrefix(res.Events[0].Message, "members 0, 2, 4, ") || !strings.Contains(res.Events[0].Message, " more are Down") {
		t.Errorf("events %v", res.Events)
	}
}

func TestMemberOrdinals(t *testing.T) {
	long := make([]int32, 0, 250)
	for i := range int32(250) {
		long = append(long, 249-i)
	}
	for _, tc := range []struct {
		in   []int32
		want string
	}{
		{[]int32{3}, "member 3"},
		{[]int32{5, 4}, "members 5, 4"},
		{[]int32{0, 1, 2}, "members 0, 1, 2"},
		{long, "members 249-0"},
		{append(append([]int32{500, 502}, long...), 600, 601), "members 500, 502, 249-0, 600, 601"},
	} {
		if got := memberOrdinals(tc.in); got != tc.want {
			t.Errorf("memberOrdinals(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestReadyNeedsAnAddressForEveryServingMember(t *testing.T) {
	sts := testStatefulSet(3, appsv1.OnDeleteStatefulSetStrategyType)
	sts.Status.UpdateRevision = oldRev

	ring := testRing(intstr.FromString("web"))
	st := compute(t, ring, sts, testPods(3), t0).Status
	requireCondition(t, st, v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonPortNotFound,
		`Serving members 0 (chat-0), 1 (chat-1), 2 (chat-2) have no address: spec.port "web" is not a container port of their pods`,
		"gateways cannot route their rooms and answer 503")
	requireCondition(t, st, v1alpha1.ConditionDegraded, metav1.ConditionTrue, ReasonPortNotFound, `"web"`, "pods chat-0, chat-1, chat-2")

	// Only the pod of a new revision lacks the port.
	ring = testRing(intstr.FromString("http"))
	pods := testPods(3)
	pods[2].Spec.Containers[0].Ports = nil
	st = compute(t, ring, sts, pods, t0).Status
	requireCondition(t, st, v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonPortNotFound,
		`Serving member 2 (chat-2) has no address: spec.port "http" is not a container port of its pod, so gateways cannot route its rooms`)
	requireCondition(t, st, v1alpha1.ConditionDegraded, metav1.ConditionTrue, ReasonPortNotFound, "of pod chat-2, so its member has no address")

	// A Ready pod without an IP.
	pods = testPods(3)
	pods[1].Status.PodIP = ""
	st = compute(t, ring, sts, pods, t0).Status
	requireCondition(t, st, v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonMembersUnroutable,
		"Serving member 1 (chat-1) has no address: its pod has no IP")

	// A Pending member without an address routes nothing yet: the ring is Ready.
	pods = testPods(3)
	pods[2] = testPod(2, oldRev, false, "")
	pods[2].Spec.Containers[0].Ports = nil
	st = compute(t, testRing(intstr.FromString("http")), sts, pods, t0).Status
	requireCondition(t, st, v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonAllMembersServing)
}

func TestMissingStatefulSetWarnsOnce(t *testing.T) {
	ring := testRing(intstr.FromInt32(8080))
	res := compute(t, ring, nil, nil, t0)
	requireEvents(t, res.Events, "StatefulSetNotFound: StatefulSet chat does not exist in namespace default: the ring has no members until it exists")
	if res.Events[0].Type != corev1.EventTypeWarning {
		t.Errorf("event type %s, want Warning", res.Events[0].Type)
	}
	requireCondition(t, res.Status, v1alpha1.ConditionDegraded, metav1.ConditionTrue, ReasonStatefulSetNotFound, "the ring has no joined members")
	if res = compute(t, ring, nil, nil, t0.Add(time.Second)); len(res.Events) != 0 {
		t.Errorf("events %v while the StatefulSet stays missing", res.Events)
	}

	sts := testStatefulSet(2, appsv1.OnDeleteStatefulSetStrategyType)
	sts.Status.UpdateRevision = oldRev
	compute(t, ring, sts, testPods(2), t0.Add(2*time.Second))
	res = compute(t, ring, nil, nil, t0.Add(3*time.Second))
	requireEvents(t, res.Events,
		"StatefulSetNotFound: StatefulSet chat does not exist in namespace default: members 0, 1 are kept as Down, and gateways apply spec.unavailable to their rooms",
		"MemberDown: members 0, 1 are Down: not Ready, and no rollout batch is restarting them; gateways apply spec.unavailable to their rooms")
	requireCondition(t, res.Status, v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonStatefulSetNotFound, "StatefulSet chat does not exist")
}

func TestOrderedReadyPodManagementIsReported(t *testing.T) {
	for _, tc := range []struct {
		name     string
		policy   appsv1.PodManagementPolicyType
		strategy appsv1.StatefulSetUpdateStrategyType
		batch    intstr.IntOrString
		reason   string
	}{
		{"OrderedReady, batches of 2", appsv1.OrderedReadyPodManagement, appsv1.OnDeleteStatefulSetStrategyType, intstr.FromInt32(2), ReasonOrderedReadyPodManagement},
		{"the API's default, batches of 50%", "", appsv1.OnDeleteStatefulSetStrategyType, intstr.FromString("50%"), ReasonOrderedReadyPodManagement},
		{"OrderedReady, batches of 1", appsv1.OrderedReadyPodManagement, appsv1.OnDeleteStatefulSetStrategyType, intstr.FromInt32(1), ReasonAsExpected},
		{"Parallel", appsv1.ParallelPodManagement, appsv1.OnDeleteStatefulSetStrategyType, intstr.FromInt32(2), ReasonAsExpected},
		{"OrderedReady without pacing", appsv1.OrderedReadyPodManagement, appsv1.RollingUpdateStatefulSetStrategyType, intstr.FromInt32(2), ReasonRollingUpdateStrategy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ring := testRing(intstr.FromInt32(8080))
			ring.Spec.Rollout.BatchSize = &tc.batch
			sts := testStatefulSet(4, tc.strategy)
			sts.Spec.PodManagementPolicy = tc.policy
			st := compute(t, ring, sts, testPods(4), t0).Status
			status := metav1.ConditionTrue
			if tc.reason == ReasonAsExpected {
				status = metav1.ConditionFalse
			}
			requireCondition(t, st, v1alpha1.ConditionDegraded, status, tc.reason)
			if tc.reason == ReasonOrderedReadyPodManagement {
				requireCondition(t, st, v1alpha1.ConditionDegraded, status, tc.reason,
					"uses podManagementPolicy OrderedReady", "recreates the 2 pods of a rollout batch one at a time", "Parallel", "--cascade=orphan")
				requireCondition(t, st, v1alpha1.ConditionProgressing, metav1.ConditionTrue, ReasonBatchProgressing)
			}
			if tc.reason == ReasonRollingUpdateStrategy && strings.Contains(conditionMessage(st, v1alpha1.ConditionDegraded), "OrderedReady") {
				t.Errorf("OrderedReady reported without pacing")
			}
		})
	}
}

func conditionMessage(st v1alpha1.StableRingStatus, conditionType string) string {
	for _, c := range st.Conditions {
		if c.Type == conditionType {
			return c.Message
		}
	}
	return ""
}

func TestMessagesAboutOneMemberAreSingular(t *testing.T) {
	ring := testRing(intstr.FromInt32(8080))
	ring.Spec.Rollout = rolloutSpec(intstr.FromInt32(1))
	sts := testStatefulSet(2, appsv1.OnDeleteStatefulSetStrategyType)
	pods := testPods(2)
	res := compute(t, ring, sts, pods, t0)
	requireEvents(t, res.Events,
		"MemberJoined: members 0, 1 joined the ring",
		"BatchStarted: batch 1 started: member 1 drains for 10s, then its pod is deleted to move it to revision "+newRev)
	requireCondition(t, res.Status, v1alpha1.ConditionProgressing, metav1.ConditionTrue, ReasonBatchProgressing, "batch 1 (member 1) is Draining; its pod is deleted at")
	requireCondition(t, res.Status, v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonMembersNotServing, "1 of 2 joined members is not Serving")

	res = compute(t, ring, sts, pods, t0.Add(12*time.Second))
	requireCondition(t, res.Status, v1alpha1.ConditionProgressing, metav1.ConditionTrue, ReasonBatchProgressing,
		"batch 1 (member 1) is Restarting: waiting for pod chat-1 to be Ready")
	pods[1] = testPod(1, newRev, true, "10.0.0.12")
	res = compute(t, ring, sts, pods, t0.Add(13*time.Second))
	requireEvents(t, res.Events, "BatchCompleted: batch 1 completed: member 1 is Ready at revision "+newRev)

	ring.Spec.Rollout.Paused = true
	ring.Generation++
	res = compute(t, ring, sts, pods, t0.Add(14*time.Second))
	requireCondition(t, res.Status, v1alpha1.ConditionProgressing, metav1.ConditionFalse, ReasonRolloutPaused,
		"1 member still runs an older revision than "+newRev)

	ring.Spec.Rollout.Paused = false
	ring.Generation++
	compute(t, ring, sts, pods, t0.Add(15*time.Second))
	compute(t, ring, sts, pods, t0.Add(27*time.Second)) // batch 2 (member 0) deleted, never comes back
	pods[0] = testPod(0, newRev, false, "10.0.0.11")
	res = compute(t, ring, sts, pods, t0.Add(200*time.Second))
	requireEvents(t, res.Events,
		"MemberDown: member 0 is Down: not Ready, and no rollout batch is restarting it; gateways apply spec.unavailable to its rooms",
		"RolloutStalled: batch 2 (member 0) was not Ready at revision "+newRev+" within 60s; no more pods are deleted until the StableRing spec or the StatefulSet changes")
	requireCondition(t, res.Status, v1alpha1.ConditionDegraded, metav1.ConditionTrue, ReasonProgressDeadlineExceeded,
		"batch 2 (member 0) was not Ready at revision "+newRev+" within progressDeadlineSeconds (60s) after its pod was deleted", "member 0 (chat-0) of the stalled batch 2 is Down: its restart missed the progress deadline, so gateways hold its rooms for 60s")
	if msg := conditionMessage(res.Status, v1alpha1.ConditionDegraded); strings.Contains(msg, "not in a rollout batch") {
		t.Errorf("Degraded says the stalled batch's own member is not in a rollout batch: %q", msg)
	}

	one := testStatefulSet(1, appsv1.OnDeleteStatefulSetStrategyType)
	one.Status.UpdateRevision = oldRev
	res = compute(t, testRing(intstr.FromInt32(8080)), one, testPods(1), t0)
	requireCondition(t, res.Status, v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonAllMembersServing, "the 1 member is Serving")
	requireCondition(t, res.Status, v1alpha1.ConditionProgressing, metav1.ConditionFalse, ReasonRolloutComplete, "the 1 member runs revision "+oldRev)
}

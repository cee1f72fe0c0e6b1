package ring

import (
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/stablering/stablering/api/v1alpha1"
)

const (
	oldRev = "chat-5c8d"
	newRev = "chat-6d9f"
)

// t0 is deliberately not on a whole second.
var t0 = time.Date(2026, 3, 4, 5, 6, 7, 250_000_000, time.UTC)

func mtime(t time.Time) *metav1.Time { return ptr.To(metav1.NewTime(t)) }

func uid(ordinal int32, rev string) types.UID {
	return types.UID(fmt.Sprintf("uid-%d-%s", ordinal, rev))
}

// member is an observed member with a live pod at rev.
func member(ordinal int32, rev string, ready bool) observed {
	return observed{
		ordinal: ordinal, podName: fmt.Sprintf("chat-%d", ordinal), exists: true,
		uid: uid(ordinal, rev), resourceVersion: "rv-" + string(uid(ordinal, rev)),
		revision: rev, ready: ready, address: fmt.Sprintf("10.0.0.%d:8080", ordinal+1),
	}
}

// members returns ordinals 0..n-1 at rev, all Ready.
func members(n int32, rev string) []observed {
	list := make([]observed, 0, n)
	for i := range n {
		list = append(list, member(i, rev, true))
	}
	return list
}

// with replaces the members with the same ordinals in list.
func with(list []observed, changed ...observed) []observed {
	out := append([]observed(nil), list...)
	for _, c := range changed {
		for i := range out {
			if out[i].ordinal == c.ordinal {
				out[i] = c
			}
		}
	}
	return out
}

func terminating(o observed) observed {
	o.terminating, o.ready = true, false
	return o
}

func missing(ordinal int32) observed {
	return observed{ordinal: ordinal, podName: fmt.Sprintf("chat-%d", ordinal)}
}

func rolloutSpec(batch intstr.IntOrString) v1alpha1.RolloutSpec {
	return v1alpha1.RolloutSpec{BatchSize: &batch, DrainSeconds: 10, PauseSeconds: 0, ProgressDeadlineSeconds: 60}
}

func testRing(replicasPort intstr.IntOrString) *v1alpha1.StableRing {
	return &v1alpha1.StableRing{
		ObjectMeta: metav1.ObjectMeta{Name: "chat", Namespace: "default", Generation: 1},
		Spec: v1alpha1.StableRingSpec{
			StatefulSetName: "chat",
			Port:            replicasPort,
			Hash:            v1alpha1.HashSpec{Algorithm: v1alpha1.AlgorithmJump},
			Key:             v1alpha1.KeySpec{Source: v1alpha1.KeySourceQuery, Name: "room"},
			Unavailable:     v1alpha1.UnavailableSpec{Policy: v1alpha1.UnavailableHold, HoldSeconds: 60},
			Rollout:         rolloutSpec(intstr.FromInt32(2)),
		},
	}
}

func testStatefulSet(replicas int32, strategy appsv1.StatefulSetUpdateStrategyType) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "chat", Namespace: "default", Generation: 3},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To(replicas),
			PodManagementPolicy: appsv1.ParallelPodManagement,
			UpdateStrategy:      appsv1.StatefulSetUpdateStrategy{Type: strategy},
		},
		Status: appsv1.StatefulSetStatus{ObservedGeneration: 3, CurrentRevision: oldRev, UpdateRevision: newRev},
	}
}

// testPod is the pod of ordinal at rev with IP ip ("" for none).
func testPod(ordinal int32, rev string, ready bool, ip string) corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("chat-%d", ordinal), Namespace: "default", UID: uid(ordinal, rev),
			ResourceVersion: "1",
			Labels: map[string]string{
				appsv1.PodIndexLabel:            fmt.Sprint(ordinal),
				appsv1.StatefulSetRevisionLabel: rev,
			},
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "admin", ContainerPort: 9090}},
		}}},
		Status: corev1.PodStatus{PodIP: ip, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
	}
}

// testPods returns Ready pods 0..n-1 at oldRev with IPs 10.0.0.<ordinal+1>.
func testPods(n int32) []corev1.Pod {
	pods := make([]corev1.Pod, 0, n)
	for i := range n {
		pods = append(pods, testPod(i, oldRev, true, fmt.Sprintf("10.0.0.%d", i+1)))
	}
	return pods
}

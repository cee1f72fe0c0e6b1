package controllers

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/event"
)

func ownedPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "chat-0", Namespace: "default", ResourceVersion: "1",
			Labels: map[string]string{appsv1.StatefulSetRevisionLabel: "chat-1", appsv1.PodIndexLabel: "0"},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "StatefulSet", Name: "chat", UID: "sts", Controller: ptr.To(true),
			}},
		},
		Status: corev1.PodStatus{PodIP: "10.0.0.1", Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
}

func TestControllingStatefulSet(t *testing.T) {
	pod := ownedPod()
	if name, ok := controllingStatefulSet(pod); !ok || name != "chat" {
		t.Errorf("controllingStatefulSet = %q, %v", name, ok)
	}
	pod.OwnerReferences[0].Kind = "ReplicaSet"
	if _, ok := controllingStatefulSet(pod); ok {
		t.Errorf("a ReplicaSet's pod maps to a StatefulSet")
	}
	pod.OwnerReferences[0].Kind, pod.OwnerReferences[0].Controller = "StatefulSet", nil
	if _, ok := controllingStatefulSet(pod); ok {
		t.Errorf("a pod merely owned by a StatefulSet maps to it")
	}
}

func TestPodChanged(t *testing.T) {
	for _, tc := range []struct {
		name    string
		change  func(*corev1.Pod)
		changed bool
	}{
		{"status noise", func(p *corev1.Pod) { p.ResourceVersion = "2"; p.Status.StartTime = ptr.To(metav1.Now()) }, false},
		{"readiness", func(p *corev1.Pod) { p.Status.Conditions[0].Status = corev1.ConditionFalse }, true},
		{"IP", func(p *corev1.Pod) { p.Status.PodIP = "10.0.0.2" }, true},
		{"deletion", func(p *corev1.Pod) { p.DeletionTimestamp = ptr.To(metav1.NewTime(time.Now())) }, true},
		{"revision", func(p *corev1.Pod) { p.Labels[appsv1.StatefulSetRevisionLabel] = "chat-2" }, true},
		{"ordinal", func(p *corev1.Pod) { p.Labels[appsv1.PodIndexLabel] = "1" }, true},
		{"owner", func(p *corev1.Pod) { p.OwnerReferences = nil }, true},
	} {
		before, after := ownedPod(), ownedPod()
		tc.change(after)
		if got := podChanged(event.UpdateEvent{ObjectOld: before, ObjectNew: after}); got != tc.changed {
			t.Errorf("%s: podChanged = %v, want %v", tc.name, got, tc.changed)
		}
	}
}

func TestStatefulSetChanged(t *testing.T) {
	base := func() *appsv1.StatefulSet {
		return &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Generation: 2},
			Status:     appsv1.StatefulSetStatus{ObservedGeneration: 2, CurrentRevision: "a", UpdateRevision: "b", ReadyReplicas: 3},
		}
	}
	for _, tc := range []struct {
		name    string
		change  func(*appsv1.StatefulSet)
		changed bool
	}{
		{"ready replicas", func(s *appsv1.StatefulSet) { s.Status.ReadyReplicas = 2 }, false},
		{"spec", func(s *appsv1.StatefulSet) { s.Generation = 3 }, true},
		{"observed generation", func(s *appsv1.StatefulSet) { s.Status.ObservedGeneration = 1 }, true},
		{"current revision", func(s *appsv1.StatefulSet) { s.Status.CurrentRevision = "b" }, true},
		{"update revision", func(s *appsv1.StatefulSet) { s.Status.UpdateRevision = "c" }, true},
	} {
		before, after := base(), base()
		tc.change(after)
		if got := statefulSetChanged(event.UpdateEvent{ObjectOld: before, ObjectNew: after}); got != tc.changed {
			t.Errorf("%s: statefulSetChanged = %v, want %v", tc.name, got, tc.changed)
		}
	}
}

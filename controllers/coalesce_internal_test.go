package controllers

import (
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/controllers/ring"
)

func TestStatusWritesCoalesceFromTheLastSuccessfulWrite(t *testing.T) {
	key := types.NamespacedName{Namespace: "ns", Name: "chat"}
	prev := v1alpha1.StableRingStatus{RingVersion: "v1", Members: []v1alpha1.Member{{Ordinal: 0, State: v1alpha1.MemberRestarting}}}
	next := v1alpha1.StableRingStatus{RingVersion: "v2", Members: []v1alpha1.Member{{Ordinal: 0, State: v1alpha1.MemberServing, Address: "10.0.0.1:8080"}}}
	if !ring.Deferrable(prev, next) {
		t.Fatal("the example is not a deferrable write")
	}
	var w statusWrites
	if wait := w.hold(key, prev, ring.Result{Status: next}); wait != 0 {
		t.Errorf("no write yet: waits %v", wait)
	}
	if wait := w.hold(key, prev, ring.Result{Status: next}); wait != 0 {
		t.Errorf("a write that was decided but not made (it failed) holds the next one for %v", wait)
	}
	w.wrote(key, "41")
	if wait := w.hold(key, prev, ring.Result{Status: next}); wait <= 0 || wait > statusCoalesceWindow {
		t.Errorf("just after a write: waits %v, want (0, %v]", wait, statusCoalesceWindow)
	}
	if wait := w.hold(key, prev, ring.Result{Status: next, Delete: []ring.PodRef{{Name: "chat-0", UID: "u0"}}}); wait != 0 {
		t.Errorf("a write that records a pod to delete waits %v", wait)
	}
	restarting := prev.DeepCopy()
	restarting.Rollout = &v1alpha1.RolloutStatus{DeletedPods: []v1alpha1.DeletedPod{{Ordinal: 0, UID: "u0"}}}
	again := ring.Result{Status: *next.DeepCopy(), Delete: []ring.PodRef{{Name: "chat-0", UID: "u0"}}}
	again.Status.Rollout = restarting.Rollout.DeepCopy()
	if wait := w.hold(key, *restarting, again); wait <= 0 {
		t.Error("a write that deletes only pods status records already does not wait")
	}
	if wait := w.hold(key, prev, ring.Result{Status: prev}); wait != 0 {
		t.Errorf("no change waits %v", wait)
	}
}

func TestStatusWritesTellACacheBehindTheLastWrite(t *testing.T) {
	key := types.NamespacedName{Namespace: "ns", Name: "chat"}
	var w statusWrites
	if w.behind(key, "41") {
		t.Error("behind before any write")
	}
	w.wrote(key, "41")
	if !w.behind(key, "41") {
		t.Error("the resourceVersion the write replaced is not behind")
	}
	if w.behind(key, "42") {
		t.Error("the written resourceVersion is behind")
	}
	w.forget(key)
	if w.behind(key, "41") {
		t.Error("behind after forget")
	}
}

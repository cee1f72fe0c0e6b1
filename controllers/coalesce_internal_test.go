package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/controllers/ring"
)

func TestStatusWritesCoalesceFromTheLastSuccessfulWrite(t *testing.T) {
	key := types.NamespacedName{Namespace: "ns", Name: "chat"}
	prev := v1alpha1.StableRingStatus{RingVersion: "v1"}
	prevMembers := []v1alpha1.Member{{Ordinal: 0, State: v1alpha1.MemberRestarting}}
	next := v1alpha1.StableRingStatus{RingVersion: "v2"}
	nextMembers := []v1alpha1.Member{{Ordinal: 0, State: v1alpha1.MemberServing, Address: "10.0.0.1:8080"}}
	if !ring.Deferrable(prev, prevMembers, next, nextMembers) {
		t.Fatal("the example is not a deferrable write")
	}
	var w statusWrites
	if wait := w.hold(key, prev, prevMembers, ring.Result{Status: next, Members: nextMembers}); wait != 0 {
		t.Errorf("no write yet: waits %v", wait)
	}
	if wait := w.hold(key, prev, prevMembers, ring.Result{Status: next, Members: nextMembers}); wait != 0 {
		t.Errorf("a write that was decided but not made (it failed) holds the next one for %v", wait)
	}
	w.wrote(key, "41")
	if wait := w.hold(key, prev, prevMembers, ring.Result{Status: next, Members: nextMembers}); wait <= 0 || wait > statusCoalesceWindow {
		t.Errorf("just after a write: waits %v, want (0, %v]", wait, statusCoalesceWindow)
	}
	if wait := w.hold(key, prev, prevMembers, ring.Result{Status: next, Members: nextMembers, Delete: []ring.PodRef{{Name: "chat-0", UID: "u0"}}}); wait != 0 {
		t.Errorf("a write that records a pod to delete waits %v", wait)
	}
	restarting := prev.DeepCopy()
	restarting.Rollout = &v1alpha1.RolloutStatus{DeletedPods: []v1alpha1.DeletedPod{{Ordinal: 0, UID: "u0"}}}
	again := ring.Result{Status: *next.DeepCopy(), Members: nextMembers, Delete: []ring.PodRef{{Name: "chat-0", UID: "u0"}}}
	again.Status.Rollout = restarting.Rollout.DeepCopy()
	if wait := w.hold(key, *restarting, prevMembers, again); wait <= 0 {
		t.Error("a write that deletes only pods status records already does not wait")
	}
	if wait := w.hold(key, prev, prevMembers, ring.Result{Status: prev, Members: prevMembers}); wait != 0 {
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

func TestStatusWritesTellACacheBehindTheLastSliceWrites(t *testing.T) {
	key := types.NamespacedName{Namespace: "ns", Name: "chat"}
	slice := func(name, rv string) *v1alpha1.MemberSlice {
		return &v1alpha1.MemberSlice{ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: rv}}
	}
	var w statusWrites
	if w.slicesBehind(key, nil) {
		t.Error("behind before any write")
	}
	w.wroteSlice(key, "chat-members-0", "")
	w.wroteSlice(key, "chat-members-1", "41")
	for _, tc := range []struct {
		name   string
		have   map[string]*v1alpha1.MemberSlice
		behind bool
	}{
		{"neither write seen", map[string]*v1alpha1.MemberSlice{"chat-members-1": slice("chat-members-1", "41")}, true},
		{"the update seen, the creation not", map[string]*v1alpha1.MemberSlice{"chat-members-1": slice("chat-members-1", "43")}, true},
		{"both seen", map[string]*v1alpha1.MemberSlice{"chat-members-0": slice("chat-members-0", "42"), "chat-members-1": slice("chat-members-1", "43")}, false},
		{"seen, then deleted by someone else", map[string]*v1alpha1.MemberSlice{"chat-members-1": slice("chat-members-1", "43")}, false},
	} {
		if got := w.slicesBehind(key, tc.have); got != tc.behind {
			t.Errorf("%s: behind = %v, want %v", tc.name, got, tc.behind)
		}
	}

	w.wroteSlice(key, "chat-members-2", "")
	w.deletedSlice(key, "chat-members-2")
	if w.slicesBehind(key, nil) {
		t.Error("a slice the controller deleted is waited for")
	}
	w.wroteSlice(key, "chat-members-3", "")
	w.slices[key]["chat-members-3"] = sliceWrite{at: time.Now().Add(-sliceWriteExpiry - time.Second)}
	if w.slicesBehind(key, nil) {
		t.Error("a creation the cache never saw is waited for past sliceWriteExpiry")
	}
	w.wroteSlice(key, "chat-members-4", "")
	w.forget(key)
	if w.slicesBehind(key, nil) {
		t.Error("behind after forget")
	}
}

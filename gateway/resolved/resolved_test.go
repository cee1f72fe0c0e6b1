package resolved

import (
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
)

// TestAssemble: each ring gets the members of the slices its status names, from its own
// namespace; the rings that do not assemble are left out and named in the error.
func TestAssemble(t *testing.T) {
	ring := func(ns, name string, refs ...v1alpha1.MemberSliceRef) v1alpha1.StableRing {
		sr := v1alpha1.StableRing{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		sr.Status.MemberSlices = refs
		return sr
	}
	slice := func(ns, ring string, n int, version string, ordinals ...int32) v1alpha1.MemberSlice {
		s := v1alpha1.MemberSlice{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: v1alpha1.MemberSliceName(ring, n)}, Ring: ring, Version: version}
		for _, o := range ordinals {
			s.Members = append(s.Members, v1alpha1.Member{Ordinal: o})
		}
		return s
	}
	rings := []v1alpha1.StableRing{
		ring("a", "chat", v1alpha1.MemberSliceRef{Name: "chat-members-0", Version: "x"}, v1alpha1.MemberSliceRef{Name: "chat-members-1", Version: "y"}),
		ring("b", "chat", v1alpha1.MemberSliceRef{Name: "chat-members-0", Version: "x"}),
		ring("a", "empty"),
	}
	all := []v1alpha1.MemberSlice{
		slice("a", "chat", 1, "y", 250),
		slice("a", "chat", 0, "x", 0, 1),
		slice("c", "chat", 0, "x", 7), // another namespace's
	}
	got, err := Assemble(rings, all)
	if err == nil || !strings.Contains(err.Error(), "MemberSlice b/chat-members-0 of StableRing chat does not exist") {
		t.Errorf("error %v, want one naming b/chat's missing slice", err)
	}
	if len(got) != 2 || got[0].StableRing != &rings[0] || got[1].StableRing != &rings[2] {
		t.Fatalf("assembled %d rings, want a/chat and a/empty pointing into rings", len(got))
	}
	var ordinals []int32
	for _, m := range got[0].Members {
		ordinals = append(ordinals, m.Ordinal)
	}
	if !slices.Equal(ordinals, []int32{0, 1, 250}) {
		t.Errorf("a/chat has members %v, want 0, 1 and 250 in the order of its status", ordinals)
	}
	if got[1].Members != nil {
		t.Errorf("a ring whose status names no slices has members %v", got[1].Members)
	}
	if _, err := Assemble(rings[:1], all); err != nil {
		t.Errorf("rings that all assemble: %v", err)
	}
}

package ring

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/stablering/stablering/api/v1alpha1"
)

// TestMemberSlices checks how members are split: slices of 100 consecutive members, owned by the
// ring, named in status with their versions; a change rewrites only the slice that holds it.
func TestMemberSlices(t *testing.T) {
	ring := testRing(intstr.FromInt32(8080))
	ring.UID = types.UID("ring-uid")
	sts := testStatefulSet(250, appsv1.OnDeleteStatefulSetStrategyType)
	sts.Status.UpdateRevision = oldRev
	pods := testPods(250)
	first := compute(t, ring, sts, pods, t0)

	var sizes, firsts []int
	var refs []v1alpha1.MemberSliceRef
	for i, s := range first.Slices {
		sizes, firsts = append(sizes, len(s.Members)), append(firsts, int(s.Members[0].Ordinal))
		refs = append(refs, v1alpha1.MemberSliceRef{Name: s.Name, Version: s.Version})
		if want := fmt.Sprintf("chat-members-%d", i); s.Name != want || s.Namespace != "default" || s.Ring != "chat" {
			t.Errorf("slice %d is %s/%s of ring %s, want default/%s of chat", i, s.Namespace, s.Name, s.Ring, want)
		}
		if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].UID != ring.UID || s.OwnerReferences[0].Kind != "StableRing" ||
			s.OwnerReferences[0].Controller == nil || !*s.OwnerReferences[0].Controller {
			t.Errorf("slice %d's owners %+v, want the ring as controller", i, s.OwnerReferences)
		}
	}
	if diff := cmp.Diff([]int{100, 100, 50}, sizes); diff != "" {
		t.Errorf("slice sizes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{0, 100, 200}, firsts); diff != "" {
		t.Errorf("first ordinals (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(refs, first.Status.MemberSlices); diff != "" {
		t.Errorf("status names (-want +got):\n%s", diff)
	}

	pods[160].Status.PodIP = "10.9.9.9"
	next := compute(t, ring, sts, pods, t0.Add(time.Minute))
	for i := range next.Slices {
		changed := next.Slices[i].Version != first.Slices[i].Version
		if changed != (i == 1) {
			t.Errorf("slice %d changed=%v on a new address of member 160, want only slice 1 changed", i, changed)
		}
	}

	again := compute(t, ring, sts, pods, t0.Add(2*time.Minute))
	if diff := cmp.Diff(next.Status.MemberSlices, again.Status.MemberSlices); diff != "" {
		t.Errorf("nothing changed, yet the slices did (-before +after):\n%s", diff)
	}
}

func TestSliceVersion(t *testing.T) {
	base := []v1alpha1.Member{
		{Ordinal: 0, Address: "10.0.0.1:8080", State: v1alpha1.MemberServing, LastTransitionTime: mtime(t0)},
		{Ordinal: 1, State: v1alpha1.MemberPending},
	}
	v := sliceVersion(base)
	if len(v) != 16 {
		t.Errorf("version %q, want 16 hex digits", v)
	}
	for name, change := range map[string]func([]v1alpha1.Member){
		"an address":          func(ms []v1alpha1.Member) { ms[0].Address = "10.0.0.9:8080" },
		"a state":             func(ms []v1alpha1.Member) { ms[1].State = v1alpha1.MemberServing },
		"a transition time":   func(ms []v1alpha1.Member) { ms[0].LastTransitionTime = mtime(t0.Add(time.Second)) },
		"a time set":          func(ms []v1alpha1.Member) { ms[1].LastTransitionTime = mtime(t0) },
		"an ordinal":          func(ms []v1alpha1.Member) { ms[1].Ordinal = 2 },
		"the order of two":    func(ms []v1alpha1.Member) { ms[0], ms[1] = ms[1], ms[0] },
		"a Pending address":   func(ms []v1alpha1.Member) { ms[1].Address = "10.0.0.2:8080" },
		"the time's location": nil,
	} {
		ms := []v1alpha1.Member{base[0], base[1]}
		if change == nil {
			ms[0].LastTransitionTime = mtime(t0.In(time.FixedZone("x", 3600)))
			if got := sliceVersion(ms); got != v {
				t.Errorf("%s changed the version: %s -> %s", name, v, got)
			}
			continue
		}
		change(ms)
		if got := sliceVersion(ms); got == v {
			t.Errorf("changing %s kept version %s", name, v)
		}
	}
}

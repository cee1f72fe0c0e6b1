package route

import (
	"fmt"
	"slices"
	"testing"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/gateway/resolved"
)

// ringsAt returns r rings of n Serving members, each at resourceVersion "1".
func ringsAt(r, n int) []resolved.Ring {
	rings := make([]resolved.Ring, 0, r)
	for i := range r {
		sr := newRingSpec(fmt.Sprintf("ring-%03d", i), n, withRoute(fmt.Sprintf("/r%d", i)))
		sr.ResourceVersion = "1"
		rings = append(rings, sr)
	}
	return rings
}

// changeOne gives the first ring a new resourceVersion with its first member Draining.
func changeOne(rings []resolved.Ring) []resolved.Ring {
	next := append([]resolved.Ring(nil), rings...)
	next[0] = resolved.Ring{StableRing: rings[0].DeepCopy(), Members: slices.Clone(rings[0].Members)}
	next[0].ResourceVersion = "2"
	next[0].Members[0].State = v1alpha1.MemberDraining
	next[0].Status.RingVersion += "-2"
	return next
}

func TestBuildRebuildsOnlyChangedRings(t *testing.T) {
	rings := ringsAt(3, 4)
	prev := Build(rings, nil, now)
	next := Build(changeOne(rings), prev, now)
	if &next.Rings()[0].Members()[0] == &prev.Rings()[0].Members()[0] {
		t.Error("the changed ring kept its old members")
	}
	if got := next.Rings()[0].Member(0).State; got != v1alpha1.MemberDraining {
		t.Errorf("the changed ring's member 0 is %s, want Draining", got)
	}
	for i := 1; i < 3; i++ {
		if &next.Rings()[i].Members()[0] != &prev.Rings()[i].Members()[0] {
			t.Errorf("unchanged ring %d was rebuilt", i)
		}
		if next.Rings()[i] == prev.Rings()[i] {
			t.Errorf("unchanged ring %d is shared with the old table, whose Index it would change", i)
		}
	}

	without := rings[1:]
	shifted := Build(without, prev, now)
	if r := shifted.Ring(rings[1].Namespace + "/" + rings[1].Name); r.Index != 0 || prev.Rings()[1].Index != 1 {
		t.Errorf("a reused ring's index: %d in the new table, %d in the old; want 0 and 1", r.Index, prev.Rings()[1].Index)
	}
	unversioned := ringsAt(1, 2)
	unversioned[0].ResourceVersion = ""
	if a, b := Build(unversioned, nil, now), Build(unversioned, Build(unversioned, nil, now), now); &a.Rings()[0].Members()[0] == &b.Rings()[0].Members()[0] {
		t.Error("a ring without resourceVersion (from a file) was reused")
	}
}

// BenchmarkBuild measures a table rebuild at R rings of N members: from nothing (a gateway's
// first table), and after one ring changed (every later table), which costs in proportion to
// that ring.
func BenchmarkBuild(b *testing.B) {
	for _, r := range []int{1, 10, 100} {
		for _, n := range []int{10, 100, 1000} {
			rings := ringsAt(r, n)
			b.Run(fmt.Sprintf("rings=%d/members=%d/all", r, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					Build(rings, nil, now)
				}
			})
			prev, next := Build(rings, nil, now), changeOne(rings)
			b.Run(fmt.Sprintf("rings=%d/members=%d/one-changed", r, n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					Build(next, prev, now)
				}
			})
		}
	}
}

func TestRingStates(t *testing.T) {
	rings := ringsAt(1, 4)
	prev := Build(rings, nil, now)
	if got := prev.Rings()[0].States(); len(got) != 1 || got[v1alpha1.MemberServing] != 4 {
		t.Errorf("4 Serving members counted %v", got)
	}
	next := Build(changeOne(rings), prev, now)
	if got := next.Rings()[0].States(); len(got) != 2 || got[v1alpha1.MemberServing] != 3 || got[v1alpha1.MemberDraining] != 1 {
		t.Errorf("3 Serving and 1 Draining counted %v", got)
	}
	if got := prev.Rings()[0].States(); got[v1alpha1.MemberServing] != 4 {
		t.Errorf("the old table's counts changed to %v", got)
	}
	if got := (*Ring)(nil).States(); got != nil {
		t.Errorf("a missing ring counted %v", got)
	}
}

func TestRingReuses(t *testing.T) {
	rings := ringsAt(2, 3)
	prev := Build(rings, nil, now)
	changed := changeOne(rings)
	next := Build(changed, prev, now)
	again := Build(changed, next, now)
	if next.Rings()[0].Reuses(prev.Rings()[0]) {
		t.Error("the changed ring reuses its old build")
	}
	if !again.Rings()[0].Reuses(next.Rings()[0]) {
		t.Error("the changed ring, unchanged since, does not reuse its build")
	}
	if !next.Rings()[1].Reuses(prev.Rings()[1]) || !again.Rings()[1].Reuses(prev.Rings()[1]) {
		t.Error("an unchanged ring does not reuse the build of the first table")
	}
	if Build(rings, nil, now).Rings()[1].Reuses(prev.Rings()[1]) {
		t.Error("two builds of the same object without a previous table reuse each other")
	}
	if r := prev.Rings()[0]; r.Reuses(nil) || (*Ring)(nil).Reuses(r) {
		t.Error("a missing ring is reused")
	}
}

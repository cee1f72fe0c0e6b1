package gateway

import (
	"fmt"
	"slices"
	"testing"
	"time"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/gateway/resolved"
)

// syntheticRings returns r StableRings (default/ring-000...) of n Serving members each, at
// resourceVersion "1", every member at an address of its own.
func syntheticRings(r, n int) []resolved.Ring {
	rings := make([]resolved.Ring, r)
	for i := range rings {
		sr := &rings[i]
		sr.StableRing = &v1alpha1.StableRing{}
		sr.Namespace, sr.Name, sr.ResourceVersion = "default", fmt.Sprintf("ring-%03d", i), "1"
		sr.Spec.Route.PathPrefix = fmt.Sprintf("/r%d", i)
		sr.Spec.Key = v1alpha1.KeySpec{Source: v1alpha1.KeySourceQuery, Name: "room"}
		sr.Status.RingVersion = "v1"
		for o := range n {
			sr.Members = append(sr.Members, v1alpha1.Member{
				Ordinal: int32(o),
				Address: fmt.Sprintf("10.%d.%d.%d:8080", i, o/256, o%256), State: v1alpha1.MemberServing,
			})
		}
	}
	return rings
}

// restarted returns rings with ring i's member o at a new address, as after that member's pod
// was replaced: a new resourceVersion (rv) and ring version.
func restarted(rings []resolved.Ring, i int, o int32, rv string) []resolved.Ring {
	next := append([]resolved.Ring(nil), rings...)
	next[i] = resolved.Ring{StableRing: rings[i].DeepCopy(), Members: slices.Clone(rings[i].Members)}
	next[i].ResourceVersion, next[i].Status.RingVersion = rv, "v"+rv
	next[i].Members[o].Address = fmt.Sprintf("10.255.%d.%d:8080", o/256, o%256)
	return next
}

// TestSnapshotRebuildsOnlyChangedRings: a ring change costs the gateway that ring. The rows of
// the rings route.Build reused are the previous snapshot's; the changed ring's row keeps its
// members' state and the targets of addresses that stay; a target is forgotten (and closed)
// when no ring points to its address any more, and kept while another ring still does.
func TestSnapshotRebuildsOnlyChangedRings(t *testing.T) {
	g := New(Options{})
	rings := syntheticRings(3, 4)
	g.Update(rings)
	first := g.snap.Load()
	marked := first.slots[0][0].target
	marked.MarkUnreachable(time.Now(), time.Minute)

	next := restarted(rings, 1, 2, "2")
	g.Update(next)
	s := g.snap.Load()
	for _, i := range []int{0, 2} {
		if &s.slots[i][0] != &first.slots[i][0] {
			t.Errorf("ring %d did not change but its row was rebuilt", i)
		}
	}
	if &s.slots[1][0] == &first.slots[1][0] {
		t.Fatal("the changed ring kept its old row")
	}
	for o, sl := range s.slots[1] {
		if sl.member != first.slots[1][o].member {
			t.Errorf("member %d of the changed ring lost its state", o)
		}
		if kept := sl.target == first.slots[1][o].target; kept != (o != 2) {
			t.Errorf("member %d of the changed ring kept its target: %v; only the restarted member 2 has a new one", o, kept)
		}
	}
	oldAddress, newAddress := rings[1].Members[2].Address, next[1].Members[2].Address
	if g.targets.get(oldAddress) != nil || g.targets.get(newAddress) != s.slots[1][2].target {
		t.Errorf("after member 2 moved from %s to %s the targets are %v and %v; want the old one forgotten",
			oldAddress, newAddress, g.targets.get(oldAddress), g.targets.get(newAddress))
	}
	if _, ok := s.Unreachable(rings[0].Members[0].Address, time.Now()); !ok {
		t.Error("an unchanged ring's member lost its passive health mark")
	}

	// Ring 3 shares member 0's address with ring 0; removing ring 0 keeps that address's target.
	shared := syntheticRings(4, 4)[3]
	shared.Members[0].Address = rings[0].Members[0].Address
	g.Update(append(next, shared))
	g.Update(append(next[1:], shared))
	s = g.snap.Load()
	if got := g.targets.get(shared.Members[0].Address); got != marked || s.slots[2][0].target != marked {
		t.Error("removing a ring forgot an address another ring still routes to")
	}
	for _, m := range rings[0].Members[1:] {
		if g.targets.get(m.Address) != nil {
			t.Errorf("the removed ring's address %s is still a target", m.Address)
		}
	}
	count := 0
	g.targets.each(func(*target) { count++ })
	if want := 3 * 4; count != want {
		t.Errorf("%d targets for the 3 rings of 4 members left; want %d", count, want)
	}
}

// BenchmarkUpdateOneRingChanged measures Gateway.Update at R rings of N members when one ring
// changed (one member restarted at a new address): every table after the first. It alternates
// between two versions of that ring, so each Update rebuilds it and replaces one target.
func BenchmarkUpdateOneRingChanged(b *testing.B) {
	for _, size := range []struct{ r, n int }{{10, 1000}, {100, 100}, {100, 1000}} {
		b.Run(fmt.Sprintf("rings=%d/members=%d", size.r, size.n), func(b *testing.B) {
			rings := syntheticRings(size.r, size.n)
			versions := [][]resolved.Ring{restarted(rings, 0, 0, "2"), restarted(rings, 0, 1, "3")}
			g := New(Options{})
			g.Update(rings)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				g.Update(versions[i%2])
				i++
			}
		})
	}
}

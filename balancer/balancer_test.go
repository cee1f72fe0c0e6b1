package balancer_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stablering/stablering/balancer"
	"github.com/stablering/stablering/balancer/ringstats"
)

func TestNewRejectsBadConfigs(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  balancer.Config
		want string
	}{
		{"unknown algorithm", balancer.Config{Algorithm: "Modulo", Members: []int32{0}}, `unknown algorithm "Modulo"`},
		{"algorithm in lower case", balancer.Config{Algorithm: "jump", Members: []int32{0}}, `unknown algorithm "jump"`},
		{"no algorithm", balancer.Config{Members: []int32{0}}, `unknown algorithm ""`},
		{"negative start", balancer.Config{Algorithm: balancer.Jump, Start: -1}, "start -1 is negative"},
		{"duplicate member", balancer.Config{Algorithm: balancer.Maglev, Members: []int32{2, 0, 2}}, "member 2 is listed more than once"},
		{"member below start", balancer.Config{Algorithm: balancer.Rendezvous, Start: 3, Members: []int32{3, 1}}, "member 1 is below start 3"},
		{"negative virtual nodes", balancer.Config{Algorithm: balancer.Ketama, VirtualNodes: -1}, "virtualNodes -1 is out of range"},
		{"too many virtual nodes", balancer.Config{Algorithm: balancer.Ketama, VirtualNodes: 10001}, "virtualNodes 10001 is out of range"},
		{"virtual nodes for Jump", balancer.Config{Algorithm: balancer.Jump, VirtualNodes: 160}, "virtualNodes applies only to the Ketama algorithm"},
		{"too many members", balancer.Config{Algorithm: balancer.Jump, Members: ordinals(0, balancer.MaxMembers+1)}, "more than the maximum"},
		{"too many Ketama points", balancer.Config{Algorithm: balancer.Ketama, Members: ordinals(0, 2000), VirtualNodes: 10000}, "Ketama points"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := balancer.New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New() = %v, %v; want an error containing %q", r, err, tc.want)
			}
		})
	}
}

func TestParseAlgorithm(t *testing.T) {
	for _, alg := range balancer.Algorithms() {
		for _, s := range []string{string(alg), strings.ToLower(string(alg)), strings.ToUpper(string(alg))} {
			if got, err := balancer.ParseAlgorithm(s); err != nil || got != alg {
				t.Errorf("ParseAlgorithm(%q) = %q, %v; want %q", s, got, err, alg)
			}
		}
	}
	if _, err := balancer.ParseAlgorithm("ring_hash"); err == nil || !strings.Contains(err.Error(), "Jump, Ketama, Maglev, Rendezvous") {
		t.Errorf("ParseAlgorithm(ring_hash) error = %v, want one listing the algorithms", err)
	}
}

func TestEmptyRing(t *testing.T) {
	for _, alg := range balancer.Algorithms() {
		for _, cfg := range []balancer.Config{
			{Algorithm: alg},
			{Algorithm: alg, Start: 5, Members: []int32{}},
		} {
			r := mustNew(t, cfg)
			if m := r.Members(); len(m) != 0 {
				t.Errorf("%s: Members() = %v, want none", alg, m)
			}
			if o, ok := r.Owner("room"); ok {
				t.Errorf("%s: Owner on an empty ring = %d, true; want false", alg, o)
			}
			if o, ok := r.Pick("room", unusable()); ok {
				t.Errorf("%s: Pick on an empty ring = %d, true; want false", alg, o)
			}
			if o, ok := r.Pick("room", nil); ok {
				t.Errorf("%s: Pick(nil) on an empty ring = %d, true; want false", alg, o)
			}
		}
	}
}

func TestMembers(t *testing.T) {
	for _, tc := range []struct {
		alg     balancer.Algorithm
		start   int32
		members []int32
		want    []int32
	}{
		{balancer.Jump, 0, []int32{4, 1, 0, 2, 5}, []int32{0, 1, 2}},
		{balancer.Jump, 2, []int32{3, 4, 2}, []int32{2, 3, 4}},
		{balancer.Jump, 0, []int32{1, 2, 3}, nil},
		{balancer.Ketama, 0, []int32{4, 1, 0, 2, 5}, []int32{0, 1, 2, 4, 5}},
		{balancer.Maglev, 1, []int32{9, 3}, []int32{3, 9}},
		{balancer.Rendezvous, 0, []int32{7}, []int32{7}},
	} {
		in := slices.Clone(tc.members)
		r := mustNew(t, balancer.Config{Algorithm: tc.alg, Start: tc.start, Members: in})
		got := r.Members()
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s start %d members %v: Members() = %v, want %v", tc.alg, tc.start, tc.members, got, tc.want)
		}
		if r.Algorithm() != tc.alg {
			t.Errorf("Algorithm() = %s, want %s", r.Algorithm(), tc.alg)
		}
		// The ring owns its members: changing the input or the result does not change it.
		clear(in)
		if len(got) > 0 {
			got[0] = -1
		}
		if again := r.Members(); !slices.Equal(again, tc.want) {
			t.Errorf("%s: Members() after changing the slices = %v, want %v", tc.alg, again, tc.want)
		}
	}
}

// TestSameMembersSameRing builds each ring from the members in ascending order and again,
// independently, from a shuffled copy, as two gateway processes would, and checks that every
// owner and every failover pick agree. Rings know only ordinals, so a pod's new address cannot
// move a key: rebuilding from the same ordinals gives the same ring.
func TestSameMembersSameRing(t *testing.T) {
	keys := ringstats.Keys(20_000)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, alg := range balancer.Algorithms() {
		members := ordinals(4, 40)
		shuffled := slices.Clone(members)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		a := mustNew(t, balancer.Config{Algorithm: alg, Start: 4, Members: members})
		b := mustNew(t, balancer.Config{Algorithm: alg, Start: 4, Members: shuffled})
		down := unusable(4, 9, 17, 30, 31, 43)
		for _, k := range keys {
			oa, _ := a.Owner(k)
			ob, _ := b.Owner(k)
			pa, _ := a.Pick(k, down)
			pb, _ := b.Pick(k, down)
			if oa != ob || pa != pb {
				t.Fatalf("%s: key %q: owners %d and %d, picks %d and %d; want equal", alg, k, oa, ob, pa, pb)
			}
		}
	}
}

// TestFailover marks members unusable one by one and checks that each step moves only the keys
// that were on the member marked, that picks are always usable members, and that a member's keys
// spread over several others.
func TestFailover(t *testing.T) {
	keys := ringstats.Keys(20_000)
	for _, alg := range balancer.Algorithms() {
		t.Run(string(alg), func(t *testing.T) {
			r := mustNew(t, balancer.Config{Algorithm: alg, Start: 2, Members: ordinals(2, 10)})
			down := unusable()
			before := picks(r, keys, down)
			for _, o := range []int32{5, 2, 11, 8} {
				down.set(o, true)
				after := picks(r, keys, down)
				receivers := map[int32]int{}
				for i, k := range keys {
					switch {
					case before[i] != o && after[i] != before[i]:
						t.Fatalf("key %q moved from usable member %d to %d when %d became unusable", k, before[i], after[i], o)
					case !down.Usable(after[i]):
						t.Fatalf("key %q picked unusable member %d", k, after[i])
					case before[i] == o:
						receivers[after[i]]++
					}
				}
				t.Logf("%d unusable: its keys went to %v", o, receivers)
				if len(receivers) < 3 {
					t.Errorf("the keys of %d went to only %d members, want them spread over at least 3", o, len(receivers))
				}
				before = after
			}
			// A member usable again takes back its own keys, and the keys of still unusable
			// members that it precedes in their failover order; no other key moves.
			down.set(5, false)
			after := picks(r, keys, down)
			for i, k := range keys {
				owner, _ := r.Owner(k)
				if owner == 5 && after[i] != 5 || after[i] != before[i] && after[i] != 5 {
					t.Fatalf("key %q (owner %d) moved from %d to %d when 5 came back", k, owner, before[i], after[i])
				}
			}
		})
	}
}

func picks(r balancer.Ring, keys []string, u balancer.Usable) []int32 {
	p := make([]int32, len(keys))
	for i, k := range keys {
		var ok bool
		if p[i], ok = r.Pick(k, u); !ok {
			panic(fmt.Sprintf("no usable member for %q", k))
		}
	}
	return p
}

func TestPickWithEveryMemberUnusable(t *testing.T) {
	for _, alg := range balancer.Algorithms() {
		r := mustNew(t, balancer.Config{Algorithm: alg, Members: ordinals(0, 7)})
		down := unusable(ordinals(0, 7)...)
		for _, k := range ringstats.Keys(1000) {
			if o, ok := r.Pick(k, down); ok {
				t.Fatalf("%s: Pick(%q) with every member unusable = %d, true; want false", alg, k, o)
			}
		}
		// With one usable member left, every key finds it.
		down.set(3, false)
		for _, k := range ringstats.Keys(1000) {
			if o, ok := r.Pick(k, down); !ok || o != 3 {
				t.Fatalf("%s: Pick(%q) with only 3 usable = %d, %t; want 3", alg, k, o, ok)
			}
		}
	}
}

func TestPickNilUsableIsOwner(t *testing.T) {
	for _, alg := range balancer.Algorithms() {
		r := mustNew(t, balancer.Config{Algorithm: alg, Members: ordinals(0, 9)})
		for _, k := range ringstats.Keys(1000) {
			o, _ := r.Owner(k)
			if p, ok := r.Pick(k, nil); !ok || p != o {
				t.Fatalf("%s: Pick(%q, nil) = %d, %t; want the owner %d", alg, k, p, ok, o)
			}
		}
	}
}

func TestUnusualKeys(t *testing.T) {
	keys := []string{"", "\x00", "\xff\xfe invalid utf-8", strings.Repeat("k", 1<<20), "ключ", "room with spaces"}
	for _, alg := range balancer.Algorithms() {
		for _, n := range []int{1, 3, 64} {
			r := mustNew(t, balancer.Config{Algorithm: alg, Start: 1, Members: ordinals(1, n)})
			for _, k := range keys {
				o, ok := r.Owner(k)
				if !ok || o < 1 || o > int32(n) {
					t.Errorf("%s %d members: Owner(%.10q) = %d, %t; want a member", alg, n, k, o, ok)
				}
				if p, ok := r.Pick(k, unusable(o)); n > 1 && (!ok || p == o) {
					t.Errorf("%s %d members: Pick(%.10q) without %d = %d, %t", alg, n, k, o, p, ok)
				}
			}
		}
	}
}

// TestLookupsDoNotAllocate checks Owner and Pick with a pointer Usable, on the owner, failover
// and nothing-usable paths.
func TestLookupsDoNotAllocate(t *testing.T) {
	for _, alg := range balancer.Algorithms() {
		r := mustNew(t, balancer.Config{Algorithm: alg, Members: ordinals(0, 100)})
		owner, _ := r.Owner("room-1")
		none, ownerDown, all := unusable(), unusable(owner), unusable(ordinals(0, 100)...)
		for name, f := range map[string]func(){
			"Owner":            func() { r.Owner("room-1") },
			"Pick owner":       func() { r.Pick("room-1", none) },
			"Pick failover":    func() { r.Pick("room-1", ownerDown) },
			"Pick none usable": func() { r.Pick("room-1", all) },
		} {
			if allocs := testing.AllocsPerRun(100, f); allocs != 0 {
				t.Errorf("%s %s: %v allocations per run, want 0", alg, name, allocs)
			}
		}
	}
}

func TestConcurrentLookups(t *testing.T) {
	for _, alg := range balancer.Algorithms() {
		r := mustNew(t, balancer.Config{Algorithm: alg, Members: ordinals(0, 20)})
		want := picks(r, ringstats.Keys(500), unusable(3))
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				down := unusable(3)
				if got := picks(r, ringstats.Keys(500), down); !slices.Equal(got, want) {
					t.Errorf("%s: concurrent picks differ", alg)
				}
			})
		}
		wg.Wait()
	}
}

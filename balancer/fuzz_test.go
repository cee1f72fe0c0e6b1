package balancer_test

import (
	"slices"
	"testing"

	"github.com/stablering/stablering/balancer"
)

// fuzzRing builds a ring from fuzz inputs: algorithm alg (mod 4), ordinals start .. start+n-1
// except those whose bit (ordinal - start) mod 64 is set in holes.
func fuzzRing(t *testing.T, alg uint8, start uint16, n uint8, holes uint64) balancer.Ring {
	var members []int32
	for i := range int32(n) {
		if holes&(1<<(i%64)) == 0 {
			members = append(members, int32(start)+i)
		}
	}
	algs := balancer.Algorithms()
	return mustNew(t, balancer.Config{Algorithm: algs[int(alg)%len(algs)], Start: int32(start), Members: members})
}

func addSeeds(f *testing.F) {
	f.Add(uint8(0), uint16(0), uint8(10), uint64(0), uint64(1), "room-1")
	f.Add(uint8(1), uint16(3), uint8(40), uint64(0b1010), uint64(0xffff), "")
	f.Add(uint8(2), uint16(0), uint8(0), uint64(0), uint64(0), "empty ring")
	f.Add(uint8(3), uint16(65535), uint8(255), uint64(1<<63), uint64(1<<63-1), "\xff\x00")
	f.Add(uint8(0), uint16(7), uint8(5), uint64(1), uint64(0), "start missing: empty Jump ring")
	f.Add(uint8(2), uint16(1), uint8(64), uint64(0), ^uint64(0), "nothing usable")
}

func FuzzOwner(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, alg uint8, start uint16, n uint8, holes, _ uint64, key string) {
		r := fuzzRing(t, alg, start, n, holes)
		members := r.Members()
		o, ok := r.Owner(key)
		if ok != (len(members) > 0) || ok && !slices.Contains(members, o) {
			t.Fatalf("%s %v: Owner(%q) = %d, %t", r.Algorithm(), members, key, o, ok)
		}
		if o2, ok2 := r.Owner(key); o2 != o || ok2 != ok {
			t.Fatalf("Owner(%q) changed from %d, %t to %d, %t", key, o, ok, o2, ok2)
		}
	})
}

// maskUsable makes ordinal o usable unless bit o mod 64 of the mask is set.
type maskUsable struct{ mask uint64 }

func (m *maskUsable) Usable(o int32) bool { return m.mask&(1<<(o%64)) == 0 }

func FuzzPick(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, alg uint8, start uint16, n uint8, holes, down uint64, key string) {
		r := fuzzRing(t, alg, start, n, holes)
		u := &maskUsable{down}
		members := r.Members()
		anyUsable := slices.ContainsFunc(members, u.Usable)
		p, ok := r.Pick(key, u)
		if ok != anyUsable || ok && (!slices.Contains(members, p) || !u.Usable(p)) {
			t.Fatalf("%s %v down %#x: Pick(%q) = %d, %t", r.Algorithm(), members, down, key, p, ok)
		}
		if o, _ := r.Owner(key); ok && u.Usable(o) && p != o {
			t.Fatalf("Pick(%q) = %d, but the owner %d is usable", key, p, o)
		}
	})
}

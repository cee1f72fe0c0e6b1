package balancer_test

import (
	"testing"

	"github.com/stablering/stablering/balancer"
)

// downSet is a pointer-implemented balancer.Usable, as gateways pass: the ordinals in it are
// unusable. It is a slice indexed by ordinal, so that benchmarks measure the ring, not a map.
type downSet struct{ down []bool }

func unusable(ordinals ...int32) *downSet {
	d := &downSet{}
	for _, o := range ordinals {
		d.set(o, true)
	}
	return d
}

func (d *downSet) Usable(ordinal int32) bool {
	return int(ordinal) >= len(d.down) || !d.down[ordinal]
}

func (d *downSet) set(ordinal int32, down bool) {
	if int(ordinal) >= len(d.down) {
		d.down = append(d.down, make([]bool, int(ordinal)+1-len(d.down))...)
	}
	d.down[ordinal] = down
}

func (d *downSet) sorted() []int32 {
	var s []int32
	for o, down := range d.down {
		if down {
			s = append(s, int32(o))
		}
	}
	return s
}

// ordinals returns start, start+1, ..., start+n-1.
func ordinals(start int32, n int) []int32 {
	s := make([]int32, n)
	for i := range s {
		s[i] = start + int32(i)
	}
	return s
}

func mustNew(tb testing.TB, cfg balancer.Config) balancer.Ring {
	tb.Helper()
	r, err := balancer.New(cfg)
	if err != nil {
		tb.Fatalf("New(%+v): %v", cfg, err)
	}
	return r
}

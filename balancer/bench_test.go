package balancer_test

import (
	"fmt"
	"testing"

	"github.com/stablering/stablering/balancer"
	"github.com/stablering/stablering/balancer/ringstats"
)

// benchKeys is a power of two so that benchmarks cycle through keys with a mask.
const benchKeys = 1 << 12

// benchSizes are the member counts of the benchmarks.
var benchSizes = []int{10, 100, 1000}

// benchRings runs f as sub-benchmarks "<algorithm>/members=<n>" for every algorithm and size.
func benchRings(b *testing.B, f func(b *testing.B, cfg balancer.Config)) {
	for _, alg := range balancer.Algorithms() {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/members=%d", alg, n), func(b *testing.B) {
				b.ReportAllocs()
				f(b, balancer.Config{Algorithm: alg, Members: ordinals(0, n)})
			})
		}
	}
}

// BenchmarkOwner measures Owner over 4096 distinct keys.
func BenchmarkOwner(b *testing.B) {
	keys := ringstats.Keys(benchKeys)
	benchRings(b, func(b *testing.B, cfg balancer.Config) {
		r := mustNew(b, cfg)
		i := 0
		for b.Loop() {
			r.Owner(keys[i&(benchKeys-1)])
			i++
		}
	})
}

// BenchmarkPick measures Pick with every tenth member unusable, so that about a tenth of the
// lookups fail over.
func BenchmarkPick(b *testing.B) {
	keys := ringstats.Keys(benchKeys)
	benchRings(b, func(b *testing.B, cfg balancer.Config) {
		r := mustNew(b, cfg)
		down := unusable()
		for _, o := range cfg.Members {
			down.set(o, o%10 == 0)
		}
		i := 0
		for b.Loop() {
			r.Pick(keys[i&(benchKeys-1)], down)
			i++
		}
	})
}

// BenchmarkNew measures building a ring.
func BenchmarkNew(b *testing.B) {
	benchRings(b, func(b *testing.B, cfg balancer.Config) {
		for b.Loop() {
			mustNew(b, cfg)
		}
	})
}

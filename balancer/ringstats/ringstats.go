// Package ringstats measures balancer rings over a fixed set of synthetic room keys: how evenly
// keys spread over members and how many keys move when a ring changes. The balancer tests and
// hack/balancer-report share it so that the documented figures are the tested ones.
package ringstats

import (
	"fmt"
	"strconv"

	"github.com/stablering/stablering/balancer"
)

// Keys returns n distinct room keys "room-0", "room-1", ...
func Keys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = "room-" + strconv.Itoa(i)
	}
	return keys
}

// Build returns the ring of alg over the n ordinals 0 .. n-1, with Ketama's default virtual nodes.
func Build(alg balancer.Algorithm, n int) (balancer.Ring, error) {
	members := make([]int32, n)
	for i := range members {
		members[i] = int32(i)
	}
	return balancer.New(balancer.Config{Algorithm: alg, Members: members})
}

// PeakToMean returns the largest number of keys owned by one member of r divided by the mean
// number of keys per member: 1 is perfect balance. It is 0 for an empty ring or no keys.
func PeakToMean(r balancer.Ring, keys []string) float64 {
	members := len(r.Members())
	if members == 0 || len(keys) == 0 {
		return 0
	}
	load := make(map[int32]int, members)
	peak := 0
	for _, k := range keys {
		o, _ := r.Owner(k)
		load[o]++
		peak = max(peak, load[o])
	}
	return float64(peak) * float64(members) / float64(len(keys))
}

// Movement counts the keys whose owner differs between two rings.
type Movement struct {
	Keys  int // keys compared
	Moved int // keys whose owner changed
	ToNew int // moved keys whose new owner is not a member of the old ring
}

// Fraction is the share of keys that moved.
func (m Movement) Fraction() float64 { return float64(m.Moved) / float64(m.Keys) }

// Others is the number of moved keys that went to a member of the old ring.
func (m Movement) Others() int { return m.Moved - m.ToNew }

// Move compares the owners of keys on before and after.
func Move(before, after balancer.Ring, keys []string) Movement {
	old := make(map[int32]bool)
	for _, m := range before.Members() {
		old[m] = true
	}
	mv := Movement{Keys: len(keys)}
	for _, k := range keys {
		a, _ := before.Owner(k)
		b, _ := after.Owner(k)
		if a != b {
			mv.Moved++
			if !old[b] {
				mv.ToNew++
			}
		}
	}
	return mv
}

// Scale returns the movement of keys when alg's ring over ordinals 0 .. n-1 grows by one member.
func Scale(alg balancer.Algorithm, n int, keys []string) (Movement, error) {
	before, err := Build(alg, n)
	if err != nil {
		return Movement{}, fmt.Errorf("ring of %d members: %w", n, err)
	}
	after, err := Build(alg, n+1)
	if err != nil {
		return Movement{}, fmt.Errorf("ring of %d members: %w", n+1, err)
	}
	return Move(before, after, keys), nil
}

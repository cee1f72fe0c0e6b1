package balancer_test

import (
	"testing"

	"github.com/stablering/stablering/balancer"
)

// The golden vectors below are fixed forever. Every deployed gateway routes by these answers, and
// gateways of different versions run side by side during an upgrade: changing any value (HashKey,
// an algorithm, member ids, Maglev table sizes, the failover order) moves rooms between pods and
// splits rooms across gateway versions. A failure here is a breaking change, not a test to update.

func TestHashKeyGolden(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want uint64
	}{
		{"", 0xef46db3751d8e999},
		{"a", 0xd24ec4f1a98c6e5b},
		{"room-42", 0xceaf3ce645b4c937},
		{"lobby/eu-west", 0xdfb33193b815b236},
		{"チャット", 0x65c41a42779eddae},
	} {
		if got := balancer.HashKey(tc.key); got != tc.want {
			t.Errorf("HashKey(%q) = %#016x, want %#016x", tc.key, got, tc.want)
		}
	}
}

func TestOwnerGolden(t *testing.T) {
	for _, tc := range []struct {
		alg      balancer.Algorithm
		start    int32
		replicas int
		key      string
		want     int32
	}{
		{balancer.Jump, 0, 6, "room-42", 1},
		{balancer.Jump, 0, 6, "", 5},
		{balancer.Jump, 3, 10, "lobby/eu-west", 9},
		{balancer.Jump, 0, 100, "チャット", 44},
		{balancer.Jump, 0, 1000, "a", 894},
		{balancer.Ketama, 0, 6, "room-7", 0},
		{balancer.Ketama, 0, 6, "room-42", 0},
		{balancer.Ketama, 3, 10, "", 11},
		{balancer.Ketama, 0, 100, "lobby/eu-west", 80},
		{balancer.Ketama, 0, 1000, "チャット", 984},
		{balancer.Maglev, 0, 6, "a", 3},
		{balancer.Maglev, 0, 6, "room-7", 3},
		{balancer.Maglev, 3, 10, "room-42", 3},
		{balancer.Maglev, 0, 100, "", 53},
		{balancer.Maglev, 0, 1000, "lobby/eu-west", 350},
		{balancer.Rendezvous, 0, 6, "チャット", 2},
		{balancer.Rendezvous, 0, 6, "a", 3},
		{balancer.Rendezvous, 3, 10, "room-7", 4},
		{balancer.Rendezvous, 0, 100, "room-42", 72},
		{balancer.Rendezvous, 0, 1000, "", 665},
	} {
		r := mustNew(t, balancer.Config{Algorithm: tc.alg, Start: tc.start, Members: ordinals(tc.start, tc.replicas)})
		if got, ok := r.Owner(tc.key); !ok || got != tc.want {
			t.Errorf("%s start %d replicas %d: Owner(%q) = %d, %t, want %d", tc.alg, tc.start, tc.replicas, tc.key, got, ok, tc.want)
		}
	}
}

// TestFailoverGolden fixes the first steps of failover orders on a ring of ordinals 0..9: the
// owner, the pick when the owner is unusable, and the pick when both are.
func TestFailoverGolden(t *testing.T) {
	for _, tc := range []struct {
		alg                  balancer.Algorithm
		key                  string
		owner, second, third int32
	}{
		{balancer.Jump, "room-42", 1, 3, 0},
		{balancer.Jump, "room-7", 1, 7, 9},
		{balancer.Ketama, "room-42", 8, 3, 9},
		{balancer.Ketama, "room-7", 0, 1, 2},
		{balancer.Maglev, "room-42", 9, 8, 0},
		{balancer.Maglev, "room-7", 3, 7, 0},
		{balancer.Rendezvous, "room-42", 2, 3, 7},
		{balancer.Rendezvous, "room-7", 4, 8, 5},
	} {
		r := mustNew(t, balancer.Config{Algorithm: tc.alg, Members: ordinals(0, 10)})
		down := unusable()
		for _, want := range []int32{tc.owner, tc.second, tc.third} {
			if got, ok := r.Pick(tc.key, down); !ok || got != want {
				t.Errorf("%s: Pick(%q) with %v unusable = %d, %t, want %d", tc.alg, tc.key, down.sorted(), got, ok, want)
			}
			down.set(want, true)
		}
	}
}

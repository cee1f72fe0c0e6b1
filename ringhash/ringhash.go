// Package ringhash is the one translation from a StableRing's hashing to the balancer: which
// algorithm and parameters a ring is hashed with, and which members are on it. The controller
// writes the normalized hashing into status.hash and fingerprints the configuration into
// status.ringVersion; gateways build their hash rings from the same configuration. Both take it
// from here, so they cannot disagree on what a StableRing's ring is.
package ringhash

import (
	"slices"

	"github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/balancer"
)

// Spec returns a copy of the hashing h with its defaults filled, as the controller writes it into
// status.hash: algorithm Jump when none is set, and for Ketama virtualNodes
// balancer.DefaultVirtualNodes when none is set. virtualNodes is dropped for the other
// algorithms. A nil h is the defaults.
func Spec(h *v1alpha1.HashSpec) *v1alpha1.HashSpec {
	out := &v1alpha1.HashSpec{Algorithm: v1alpha1.AlgorithmJump}
	if h == nil {
		return out
	}
	if h.Algorithm != "" {
		out.Algorithm = h.Algorithm
	}
	if out.Algorithm == v1alpha1.AlgorithmKetama {
		n := int32(balancer.DefaultVirtualNodes)
		if h.VirtualNodes != nil {
			n = *h.VirtualNodes
		}
		out.VirtualNodes = &n
	}
	return out
}

// Config returns the balancer configuration of a resolved ring: hashed as hash says (with the
// defaults of Spec filled; nil is the defaults), starting at ordinal start, with the joined
// members (every state but Pending) among members, ascending. VirtualNodes is set for Ketama
// only, to the number of points a member has. An algorithm the API does not have is passed on
// by name, so that balancer.New refuses it with an error naming it.
func Config(hash *v1alpha1.HashSpec, start int32, members []v1alpha1.Member) balancer.Config {
	spec := Spec(hash)
	cfg := balancer.Config{Algorithm: Algorithm(spec.Algorithm), Start: start}
	if spec.VirtualNodes != nil {
		cfg.VirtualNodes = int(*spec.VirtualNodes)
	}
	for _, m := range members {
		if m.State.Joined() {
			cfg.Members = append(cfg.Members, m.Ordinal)
		}
	}
	slices.Sort(cfg.Members)
	return cfg
}

// Algorithm returns the balancer algorithm of an API algorithm; "" is the API's default, Jump.
// A name the API does not have is returned as it is, for balancer.New to refuse.
func Algorithm(a v1alpha1.Algorithm) balancer.Algorithm {
	switch a {
	case "", v1alpha1.AlgorithmJump:
		return balancer.Jump
	case v1alpha1.AlgorithmKetama:
		return balancer.Ketama
	case v1alpha1.AlgorithmMaglev:
		return balancer.Maglev
	case v1alpha1.AlgorithmRendezvous:
		return balancer.Rendezvous
	default:
		return balancer.Algorithm(a)
	}
}

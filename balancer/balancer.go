// Package balancer maps room keys to StatefulSet ordinals with consistent hashing.
//
// A ring's members are pod ordinals, never addresses: a pod that restarts with a new IP keeps its
// ordinal and therefore every one of its hash positions, so address changes cannot move a key by
// construction. Building a ring twice from the same members (in any order) gives identical
// answers in every process; nothing depends on map order, time or randomness. Where an algorithm
// hashes a member, it hashes the member's id, its decimal ordinal ("3" for ordinal 3).
//
// Four algorithms are provided:
//
//   - [Jump]: Lamping and Veach's jump consistent hash over the contiguous run of ordinals
//     Start, Start+1, ... (joined members after a gap are not on the ring). Perfect balance, no
//     memory, and on a scale from N to N+1 members exactly the keys that go to the new member
//     move (about 1/(N+1)).
//   - [Ketama]: the crc32 point ring of lua-resty-balancer's resty.chash, which ingress-nginx uses
//     for upstream-hash-by: [DefaultVirtualNodes] points per member, keys hashed with crc32. It is
//     here so users can compare StableRing's placement with what their gateway does today.
//   - [Maglev]: Google's Maglev lookup table, of the smallest prime size at least
//     max(65537, 100 × members), so that members' table shares differ by at most 1%.
//   - [Rendezvous]: highest random weight hashing; every member scores every key, highest wins.
//
// Jump, Maglev and Rendezvous hash keys with [HashKey] (xxhash64, seed 0). Ketama hashes keys
// with crc32 (IEEE), as nginx and resty.chash do.
//
// [Ring.Pick] follows a key's failover order when members are unusable. The order is a pure
// function of the key and the members, so every gateway replica agrees on it, and only the keys
// of unusable members move: a key whose owner is usable is always served by its owner. Ketama
// walks the ring clockwise to the next distinct member; Rendezvous takes the next-highest score;
// Jump and Maglev look the key up again with 16 rehashed key hashes, then scan the members from a
// position derived from the key, so a usable member is always found if there is one.
//
// Rings are immutable and safe for concurrent use; build a new one when the members change.
// [Ring.Owner] and [Ring.Pick] allocate nothing.
package balancer

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// Algorithm names a consistent-hashing algorithm. The StableRing API's spec.hash.algorithm
// takes the same names: package ringhash translates one into the other, and its tests check that
// the API accepts exactly Algorithms().
type Algorithm string

// The supported algorithms.
const (
	// Jump is Lamping and Veach's jump consistent hash (the default of the StableRing API).
	Jump Algorithm = "Jump"
	// Ketama is the crc32 point ring of nginx and lua-resty-balancer's resty.chash.
	Ketama Algorithm = "Ketama"
	// Maglev is Google's Maglev lookup table.
	Maglev Algorithm = "Maglev"
	// Rendezvous is highest random weight (HRW) hashing.
	Rendezvous Algorithm = "Rendezvous"
)

// DefaultVirtualNodes is the Ketama points per member (nginx/resty.chash use 160).
const DefaultVirtualNodes = 160

// maxVirtualNodes is the largest Config.VirtualNodes, as in the StableRing API.
const maxVirtualNodes = 10000

// MaxMembers is the largest number of members a ring accepts.
const MaxMembers = 10000

// maxKetamaPoints bounds a Ketama ring's memory (8 bytes a point).
const maxKetamaPoints = 10_000_000

// Config describes a ring.
type Config struct {
	Algorithm    Algorithm
	Start        int32   // ordinals.start of the StatefulSet
	Members      []int32 // joined ordinals, any order; duplicates or ordinals < Start are an error
	VirtualNodes int     // Ketama only; 0 means DefaultVirtualNodes; 1..10000
}

// Equal reports whether c and o are the same configuration: the same algorithm, start and
// virtual nodes, and the same members in the same order.
func (c Config) Equal(o Config) bool {
	return c.Algorithm == o.Algorithm && c.Start == o.Start && c.VirtualNodes == o.VirtualNodes &&
		slices.Equal(c.Members, o.Members)
}

// Usable reports whether a member may take traffic now. The gateway passes a long-lived pointer,
// so no allocation.
type Usable interface{ Usable(ordinal int32) bool }

// Ring is immutable and safe for concurrent use.
type Ring interface {
	// Algorithm is the ring's algorithm.
	Algorithm() Algorithm
	// Members returns a copy of the members actually on the ring, ascending. For Jump they are the
	// longest run Start, Start+1, ... present in Config.Members.
	Members() []int32
	// Owner returns the key's owner; false only when the ring is empty.
	Owner(key string) (int32, bool)
	// Pick returns the first usable member in the key's failover order (the owner first); false
	// if none is usable. A nil u treats every member as usable.
	Pick(key string, u Usable) (int32, bool)
}

// Algorithms returns every supported algorithm, Jump (the default) first.
func Algorithms() []Algorithm { return []Algorithm{Jump, Ketama, Maglev, Rendezvous} }

// ParseAlgorithm returns the algorithm named s. Names match case-insensitively ("jump" is Jump).
func ParseAlgorithm(s string) (Algorithm, error) {
	for _, a := range Algorithms() {
		if strings.EqualFold(s, string(a)) {
			return a, nil
		}
	}
	return "", unknownAlgorithm(s)
}

func unknownAlgorithm(name string) error {
	names := make([]string, 0, len(Algorithms()))
	for _, a := range Algorithms() {
		names = append(names, string(a))
	}
	return fmt.Errorf("balancer: unknown algorithm %q (want %s)", name, strings.Join(names, ", "))
}

// HashKey is the fixed hash of a room key used by Jump, Maglev and Rendezvous: xxhash64 (XXH64)
// of the key's bytes with seed 0. It never changes: every deployed ring depends on it.
func HashKey(key string) uint64 { return xxhash.Sum64String(key) }

// New builds a ring. It returns an error naming the problem when cfg is invalid: an unknown
// algorithm (names are exact, see ParseAlgorithm), a negative Start, VirtualNodes out of range or
// set for another algorithm than Ketama, a member below Start, a duplicate member, more than
// MaxMembers members, or more than 10,000,000 Ketama points (members × VirtualNodes). An empty
// member list is valid and gives an empty ring.
func New(cfg Config) (Ring, error) {
	if err := checkConfig(cfg); err != nil {
		return nil, err
	}
	members, err := sortedMembers(cfg)
	if err != nil {
		return nil, err
	}
	var impl placement
	switch cfg.Algorithm {
	case Jump:
		members = contiguousRun(members, cfg.Start)
		impl = newJump(cfg.Start, members)
	case Ketama:
		impl = newKetama(members, virtualNodes(cfg))
	case Maglev:
		impl = newMaglev(members)
	case Rendezvous:
		impl = newRendezvous(members)
	default: // checkConfig admits no other algorithm
		return nil, unknownAlgorithm(string(cfg.Algorithm))
	}
	return &ring{alg: cfg.Algorithm, members: members, impl: impl}, nil
}

// checkConfig checks everything in cfg but the member ordinals.
func checkConfig(cfg Config) error {
	if !slices.Contains(Algorithms(), cfg.Algorithm) {
		return unknownAlgorithm(string(cfg.Algorithm))
	}
	if cfg.Start < 0 {
		return fmt.Errorf("balancer: start %d is negative", cfg.Start)
	}
	if cfg.VirtualNodes < 0 || cfg.VirtualNodes > maxVirtualNodes {
		return fmt.Errorf("balancer: virtualNodes %d is out of range (want 1 to %d, or 0 for %d)",
			cfg.VirtualNodes, maxVirtualNodes, DefaultVirtualNodes)
	}
	if cfg.VirtualNodes != 0 && cfg.Algorithm != Ketama {
		return fmt.Errorf("balancer: virtualNodes applies only to the Ketama algorithm, not %s", cfg.Algorithm)
	}
	if len(cfg.Members) > MaxMembers {
		return fmt.Errorf("balancer: %d members is more than the maximum of %d", len(cfg.Members), MaxMembers)
	}
	if cfg.Algorithm == Ketama && len(cfg.Members)*virtualNodes(cfg) > maxKetamaPoints {
		return fmt.Errorf("balancer: %d members with %d virtual nodes each is more than %d Ketama points",
			len(cfg.Members), virtualNodes(cfg), maxKetamaPoints)
	}
	return nil
}

// sortedMembers returns a sorted copy of cfg.Members after checking that no member is below
// Start or repeated.
func sortedMembers(cfg Config) ([]int32, error) {
	members := slices.Clone(cfg.Members)
	slices.Sort(members)
	for i, m := range members {
		if m < cfg.Start {
			return nil, fmt.Errorf("balancer: member %d is below start %d", m, cfg.Start)
		}
		if i > 0 && members[i-1] == m {
			return nil, fmt.Errorf("balancer: member %d is listed more than once", m)
		}
	}
	return members, nil
}

// virtualNodes is the Ketama points per member of cfg.
func virtualNodes(cfg Config) int {
	if cfg.VirtualNodes == 0 {
		return DefaultVirtualNodes
	}
	return cfg.VirtualNodes
}

// memberID is the id that Ketama, Maglev and Rendezvous hash for a member: its decimal ordinal,
// "3" for ordinal 3. Rings never see addresses, so a pod's new address cannot move its keys.
func memberID(ordinal int32) string { return strconv.FormatInt(int64(ordinal), 10) }

// contiguousRun returns the longest prefix start, start+1, ... of the sorted members.
func contiguousRun(sorted []int32, start int32) []int32 {
	n := 0
	for n < len(sorted) && sorted[n] == start+int32(n) {
		n++
	}
	return sorted[:n:n]
}

// placement is one algorithm's lookups; the ring calls them only when it has members.
type placement interface {
	owner(key string) int32
	pick(key string, u Usable) (int32, bool)
}

// ring implements Ring: it handles the empty ring and a nil Usable, and delegates to impl.
type ring struct {
	alg     Algorithm
	members []int32
	impl    placement
}

func (r *ring) Algorithm() Algorithm { return r.alg }

func (r *ring) Members() []int32 { return slices.Clone(r.members) }

func (r *ring) Owner(key string) (int32, bool) {
	if len(r.members) == 0 {
		return 0, false
	}
	return r.impl.owner(key), true
}

func (r *ring) Pick(key string, u Usable) (int32, bool) {
	if len(r.members) == 0 {
		return 0, false
	}
	if u == nil {
		return r.impl.owner(key), true
	}
	return r.impl.pick(key, u)
}

package balancer

// maxProbes is how many rehashed lookups Pick tries, after the owner, on the rings whose owner is
// a pure function of the key hash (Jump and Maglev), before it scans the members.
const maxProbes = 16

// golden64 is 2^64 divided by the golden ratio, the increment of splitmix64.
const golden64 = 0x9e3779b97f4a7c15

// mix64 is the splitmix64 finalizer: a bijective mixing of all 64 bits.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// rehash derives the key hash of attempt i (i >= 1) of a failover probe sequence from the key
// hash h.
func rehash(h, i uint64) uint64 { return mix64(h + i*golden64) }

// hashLookup is a ring whose owner is a pure function of the 64-bit key hash.
type hashLookup interface {
	lookup(h uint64) int32
}

// pickByProbing returns the first usable member in the failover order of the key hash h on ring
// l, whose members are members (not empty): the owner l.lookup(h), then the owners of
// rehash(h, 1) ... rehash(h, maxProbes), then every member in turn from a position derived from
// h. The order depends only on h and the ring, so every process agrees on it, and it ends with
// every member, so a usable member is found if one exists.
func pickByProbing(l hashLookup, members []int32, h uint64, u Usable) (int32, bool) {
	if o := l.lookup(h); u.Usable(o) {
		return o, true
	}
	for i := uint64(1); i <= maxProbes; i++ {
		if o := l.lookup(rehash(h, i)); u.Usable(o) {
			return o, true
		}
	}
	first := rehash(h, maxProbes+1) % uint64(len(members))
	return scan(members, int(first), u)
}

// scan returns the first usable member of members, starting at index first and wrapping around.
func scan(members []int32, first int, u Usable) (int32, bool) {
	for i := range members {
		if m := members[(first+i)%len(members)]; u.Usable(m) {
			return m, true
		}
	}
	return 0, false
}

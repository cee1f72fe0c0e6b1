package balancer

import "github.com/cespare/xxhash/v2"

// minMaglevTable is the smallest Maglev table size: the prime 65537, the smaller size of the
// Maglev paper's evaluation and Envoy's default.
const minMaglevTable = 65537

// maglevEntriesPerMember is the least number of table entries per member. Population gives every
// member M/N entries rounded up or down, so members' shares then differ by at most 1%, the bound
// the Maglev paper sizes its tables for (M > 100 × N).
const maglevEntriesPerMember = 100

// maglevRing is the lookup table of Google's Maglev load balancer (Eisenbud et al., NSDI 2016):
// a table of prime size M = maglevTableSize(members) filled by the paper's population algorithm;
// a key hash h belongs to entry h mod M.
//
// Member m's permutation of the table starts at offset = xxhash64(id, seed 0) mod M and steps by
// skip = xxhash64(id, seed 1) mod (M-1) + 1, where id is the decimal ordinal; members take turns
// in ascending ordinal order to claim their next free entry.
type maglevRing struct {
	table   []int32 // ordinal of each entry
	members []int32
}

func newMaglev(members []int32) *maglevRing {
	r := &maglevRing{members: members}
	if len(members) > 0 {
		r.table = populateMaglev(members, maglevTableSize(len(members)))
	}
	return r
}

// maglevTableSize is the smallest prime at least max(65537, 100 * members).
func maglevTableSize(members int) int {
	return nextPrime(max(minMaglevTable, maglevEntriesPerMember*members))
}

// populateMaglev fills a table of prime size m as in the Maglev paper's Pseudocode 1.
func populateMaglev(members []int32, m int) []int32 {
	table := make([]int32, m)
	filled := make([]bool, m)
	pos := make([]uint64, len(members)) // each member's next candidate entry
	skip := make([]uint64, len(members))
	for i, o := range members {
		id := memberID(o)
		pos[i] = seededHash(id, 0) % uint64(m)
		skip[i] = seededHash(id, 1)%uint64(m-1) + 1
	}
	for n := 0; ; {
		for i, o := range members {
			for filled[pos[i]] {
				pos[i] = (pos[i] + skip[i]) % uint64(m)
			}
			table[pos[i]], filled[pos[i]] = o, true
			if n++; n == m {
				return table
			}
		}
	}
}

// seededHash is xxhash64 of s with the given seed.
func seededHash(s string, seed uint64) uint64 {
	d := xxhash.NewWithSeed(seed)
	_, _ = d.WriteString(s)
	return d.Sum64()
}

// nextPrime returns the smallest prime at least n (n >= 2).
func nextPrime(n int) int {
	for !isPrime(n) {
		n++
	}
	return n
}

func isPrime(n int) bool {
	if n < 2 {
		return false
	}
	for d := 2; d*d <= n; d++ {
		if n%d == 0 {
			return false
		}
	}
	return true
}

func (r *maglevRing) lookup(h uint64) int32 { return r.table[h%uint64(len(r.table))] }

func (r *maglevRing) owner(key string) int32 { return r.lookup(HashKey(key)) }

func (r *maglevRing) pick(key string, u Usable) (int32, bool) {
	return pickByProbing(r, r.members, HashKey(key), u)
}

package balancer

// jumpRing is Lamping and Veach's jump consistent hash ("A Fast, Minimal Memory, Consistent Hash
// Algorithm", 2014) over the ordinals start, start+1, ..., start+len(members)-1: the bucket of a
// key hash is the member's offset from start.
type jumpRing struct {
	start   int32
	members []int32
}

func newJump(start int32, run []int32) *jumpRing {
	return &jumpRing{start: start, members: run}
}

func (r *jumpRing) lookup(h uint64) int32 {
	return r.start + jumpHash(h, int32(len(r.members)))
}

func (r *jumpRing) owner(key string) int32 { return r.lookup(HashKey(key)) }

func (r *jumpRing) pick(key string, u Usable) (int32, bool) {
	return pickByProbing(r, r.members, HashKey(key), u)
}

// jumpHash returns the bucket in [0, buckets) of key; buckets must be at least 1. Growing buckets
// from n to n+1 moves exactly the keys that land in the new bucket n.
func jumpHash(key uint64, buckets int32) int32 {
	b, j := int64(-1), int64(0)
	for j < int64(buckets) {
		b = j
		key = key*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((key>>33)+1)))
	}
	return int32(b)
}

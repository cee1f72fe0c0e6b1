package balancer

import (
	"encoding/binary"
	"hash/crc32"
	"math"
	"slices"
	"unsafe"
)

// ketamaRing is the point ring of lua-resty-balancer's resty.chash (lib/resty/chash.lua and
// chash.c), which ingress-nginx uses for upstream-hash-by, built the same way:
//
//   - a member's id is its decimal ordinal ("3"), where ingress-nginx uses "ip:port";
//   - with base = crc32(id), point j of the member has the hash crc32 continued from base over
//     the 4 little-endian bytes of the hash of point j-1 (0 for point 0), then finalized; see
//     appendKetamaPoints. (nginx's own "hash ... consistent" differs: it hashes
//     crc32(host "\0" port prev_hash), and a key belongs to the first point at or above its hash.)
//   - every member has the same weight, so vnodes points (160 by default, as resty.chash);
//   - all points are sorted by hash; a key hashes to crc32(key) and belongs to the last point at
//     or below that hash, or to the first point when the hash is below every point (resty.chash's
//     _find_id does not wrap around there).
//
// TestKetamaMatchesRestyChash checks this against resty.chash's own test.
//
// Equal point hashes of different members are ordered by ordinal, and the last one wins, so the
// ring does not depend on member order (resty.chash orders them by Lua table iteration).
//
// A key's failover order walks the points clockwise (ascending hash, wrapping around) from the
// key's point and visits each member at its first point.
type ketamaRing struct {
	// points are sorted ascending; each is hash<<32 | ordinal, so that the order is by hash, then
	// ordinal.
	points []uint64
}

func newKetama(members []int32, vnodes int) *ketamaRing {
	points := make([]uint64, 0, len(members)*vnodes)
	for _, m := range members {
		points = appendKetamaPoints(points, memberID(m), vnodes, m)
	}
	slices.Sort(points)
	return &ketamaRing{points: points}
}

// appendKetamaPoints appends the n points of the member with the given id, as resty.chash's
// chash_point_init computes them, labelled with ordinal.
func appendKetamaPoints(points []uint64, id string, n int, ordinal int32) []uint64 {
	base := crc32String(id)
	var prev [4]byte
	for range n {
		// resty.chash continues the crc from the finalized crc32(id); crc32.Update expects a
		// finalized crc and un-finalizes it first, hence the complement.
		h := crc32.Update(^base, crc32.IEEETable, prev[:])
		points = append(points, uint64(h)<<32|uint64(uint32(ordinal)))
		binary.LittleEndian.PutUint32(prev[:], h)
	}
	return points
}

// find returns the index of the point that owns the key hash h: the last point whose hash is at
// most h, or the first point if there is none.
func (r *ketamaRing) find(h uint32) int {
	i, _ := slices.BinarySearch(r.points, uint64(h)<<32|math.MaxUint32)
	return max(i-1, 0)
}

// ordinal is the member of point i.
func (r *ketamaRing) ordinal(i int) int32 { return int32(uint32(r.points[i])) }

// crc32String is crc32 (IEEE) of the bytes of s, as resty.chash and nginx hash keys and ids.
func crc32String(s string) uint32 {
	// crc32 only reads the bytes; viewing the string as a slice avoids copying it.
	return crc32.ChecksumIEEE(unsafe.Slice(unsafe.StringData(s), len(s)))
}

func (r *ketamaRing) owner(key string) int32 { return r.ordinal(r.find(crc32String(key))) }

func (r *ketamaRing) pick(key string, u Usable) (int32, bool) {
	start := r.find(crc32String(key))
	prev := int32(-1) // ordinals are never negative
	for i := range r.points {
		m := r.ordinal((start + i) % len(r.points))
		if m == prev {
			continue
		}
		if u.Usable(m) {
			return m, true
		}
		prev = m
	}
	return 0, false
}

package balancer

// rendezvousRing is highest random weight hashing (Thaler and Ravishankar, 1996): member m scores
// key k with mix64(HashKey(k) ^ memberHash(m)) and the highest score wins. A key's failover order
// is its members by descending score.
type rendezvousRing struct {
	members []int32
	hashes  []uint64 // memberHash of members[i]
}

func newRendezvous(members []int32) *rendezvousRing {
	r := &rendezvousRing{members: members, hashes: make([]uint64, len(members))}
	for i, m := range members {
		r.hashes[i] = memberHash(m)
	}
	return r
}

// memberHash is the hash of a member's id: HashKey("3") for ordinal 3.
func memberHash(ordinal int32) uint64 { return HashKey(memberID(ordinal)) }

func (r *rendezvousRing) owner(key string) int32 {
	o, _ := r.pick(key, everyMember{})
	return o
}

// pick returns the usable member with the highest score. Ties, which need equal 64-bit scores,
// go to the lowest ordinal. Usable is asked only about members that beat the best so far.
func (r *rendezvousRing) pick(key string, u Usable) (int32, bool) {
	h := HashKey(key)
	var best int32
	var bestScore uint64
	found := false
	for i, m := range r.members {
		s := mix64(h ^ r.hashes[i])
		if (!found || s > bestScore) && u.Usable(m) {
			best, bestScore, found = m, s, true
		}
	}
	return best, found
}

// everyMember is the Usable under which every member is usable.
type everyMember struct{}

func (everyMember) Usable(int32) bool { return true }

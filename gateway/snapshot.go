package gateway

import (
	"sync/atomic"
	"time"

	"github.com/stablering/stablering/gateway/pace"
	"github.com/stablering/stablering/gateway/route"
	"github.com/stablering/stablering/gateway/splice"
)

// snapshot is a routing table with the gateway's per-member and per-address state aligned to
// it. It is immutable once stored; the member and target objects it points to are shared
// across snapshots and hold their own synchronized state.
type snapshot struct {
	table   *route.Table
	slots   [][]slot           // [ring.Index][member.Index]
	targets map[string]*target // by address
}

// slot is the gateway state of one member in one snapshot.
type slot struct {
	member *member
	target *target // nil when the member has no address
}

// Unreachable implements route.Health with the passive health of the snapshot's addresses.
func (s *snapshot) Unreachable(address string, now time.Time) (time.Time, bool) {
	if t := s.targets[address]; t != nil {
		return t.Unreachable(now)
	}
	return time.Time{}, false
}

// view is the routing state of the snapshot, as the connection registry sees it.
func (s *snapshot) view() splice.View { return splice.View{Table: s.table, Health: s} }

// slot returns the state of member m of ring r.
func (s *snapshot) slot(r *route.Ring, m *route.Member) slot { return s.slots[r.Index][m.Index] }

// newSnapshot aligns member and target state with table, creating what is new and
// forgetting what is gone. Called with g.mu held.
func (g *Gateway) newSnapshot(table *route.Table) *snapshot {
	s := &snapshot{table: table, slots: make([][]slot, len(table.Rings())), targets: map[string]*target{}}
	members := map[string]*member{}
	for _, r := range table.Rings() {
		s.slots[r.Index] = make([]slot, len(r.Members()))
		for i := range r.Members() {
			m := &r.Members()[i]
			sl := slot{member: g.memberFor(r, m)}
			members[m.ID] = sl.member
			if m.Address != "" {
				sl.target = g.targetFor(m.Address)
				s.targets[m.Address] = sl.target
			}
			s.slots[r.Index][i] = sl
		}
	}
	for address, t := range g.targets {
		if s.targets[address] == nil {
			t.Close()
		}
	}
	g.members, g.targets = members, s.targets
	return s
}

// memberFor returns the state of member m, keeping its admission bucket across versions.
func (g *Gateway) memberFor(r *route.Ring, m *route.Member) *member {
	rate, burst := float64(r.MaxConnectsPerSecond), int(r.MaxConnectsPerSecond)
	mm := g.members[m.ID]
	if mm == nil {
		return &member{ring: r.ID, label: m.Label, header: []string{m.ID}, bucket: pace.NewBucket(rate, burst)}
	}
	mm.bucket.SetRate(rate, burst)
	return mm
}

// targetFor returns the state of address, keeping its pool and passive health.
func (g *Gateway) targetFor(address string) *target {
	if t := g.targets[address]; t != nil {
		return t
	}
	return g.newTarget(address)
}

// member is the gateway state of a ring member that outlives ring versions.
type member struct {
	ring   string   // ring ID
	label  string   // ordinal
	header []string // MemberHeader value: namespace/name/ordinal
	bucket *pace.Bucket
	active atomic.Int64 // spliced connections
}

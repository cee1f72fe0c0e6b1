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
	table *route.Table
	// slots is [ring.Index][member.Index]. A ring's row is shared with the previous snapshot
	// when route.Build reused the ring, and never modified.
	slots   [][]slot
	targets *targetSet // the gateway's
}

// slot is the gateway state of one member in one snapshot.
type slot struct {
	member *member
	target *target // nil when the member has no address
}

// Unreachable implements route.Health with the passive health of the gateway's addresses.
func (s *snapshot) Unreachable(address string, now time.Time) (time.Time, bool) {
	if t := s.targets.get(address); t != nil {
		return t.Unreachable(now)
	}
	return time.Time{}, false
}

// view is the routing state of the snapshot, as the connection registry sees it.
func (s *snapshot) view() splice.View { return splice.View{Table: s.table, Health: s} }

// slot returns the state of member m of ring r.
func (s *snapshot) slot(r *route.Ring, m *route.Member) slot { return s.slots[r.Index][m.Index] }

// row returns the slots of ring r (of s's table), or nil when r is nil.
func (s *snapshot) row(r *route.Ring) []slot {
	if r == nil {
		return nil
	}
	return s.slots[r.Index]
}

// newSnapshot aligns member and target state with table, which replaces the current
// snapshot's. A ring that route.Build reused keeps its row; a ring that changed gets a new one,
// keeping the state of its members and addresses that stay; the targets of rows that went away
// are released. It costs in proportion to the rings that changed (and a pointer per ring).
// Called with g.mu held.
func (g *Gateway) newSnapshot(table *route.Table) *snapshot {
	old := g.snap.Load()
	s := &snapshot{table: table, slots: make([][]slot, len(table.Rings())), targets: g.targets}
	for _, r := range table.Rings() {
		prev := old.table.Ring(r.ID)
		if r.Reuses(prev) {
			s.slots[r.Index] = old.slots[prev.Index]
			continue
		}
		s.slots[r.Index] = g.newRow(r, prev, old.row(prev))
	}
	// After the new rows took theirs, so an address that stays keeps its target.
	for _, r := range old.table.Rings() {
		if !table.Ring(r.ID).Reuses(r) {
			g.targets.releaseAll(old.slots[r.Index])
		}
	}
	return s
}

// newRow returns the slots of ring r; prev is its previous version and prevRow prev's slots
// (both nil for a new ring).
func (g *Gateway) newRow(r, prev *route.Ring, prevRow []slot) []slot {
	row := make([]slot, len(r.Members()))
	for i := range r.Members() {
		m := &r.Members()[i]
		row[i].member = memberFor(r, m, prev, prevRow)
		if m.Address != "" {
			row[i].target = g.targets.acquire(m.Address, g.newTarget)
		}
	}
	return row
}

// memberFor returns the state of member m of r, keeping its admission bucket from prev.
func memberFor(r *route.Ring, m *route.Member, prev *route.Ring, prevRow []slot) *member {
	rate, burst := float64(r.MaxConnectsPerSecond), int(r.MaxConnectsPerSecond)
	pm := prev.Member(m.Ordinal)
	if pm == nil {
		return &member{ring: r.ID, label: m.Label, header: []string{m.ID}, bucket: pace.NewBucket(rate, burst)}
	}
	mm := prevRow[pm.Index].member
	mm.bucket.SetRate(rate, burst)
	return mm
}

// member is the gateway state of a ring member that outlives ring versions.
type member struct {
	ring   string   // ring ID
	label  string   // ordinal
	header []string // MemberHeader value: namespace/name/ordinal
	bucket *pace.Bucket
	active atomic.Int64 // spliced connections
}

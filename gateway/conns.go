package gateway

import (
	"sync"
	"time"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/gateway/pace"
	"github.com/stablering/stablering/gateway/route"
	"github.com/stablering/stablering/gateway/tunnel"
	"github.com/stablering/stablering/gateway/wsframe"
)

// closeKind says why the gateway closes a spliced connection.
type closeKind uint8

// The close kinds; keep is none.
const (
	keep closeKind = iota
	closeDrain
	closeReunion
	closeShutdown
)

// closeKinds are each kind's metrics label and WebSocket close code and reason.
var closeKinds = [...]struct {
	label  string
	code   uint16
	reason string
}{
	closeDrain:    {"drain", wsframe.CloseServiceRestart, "member is restarting"},
	closeReunion:  {"reunion", wsframe.CloseServiceRestart, "room moves back to its owner"},
	closeShutdown: {"shutdown", wsframe.CloseGoingAway, "gateway is shutting down"},
}

// conn is a spliced connection as the registry knows it.
type conn struct {
	tun     *tunnel.Tunnel
	ring    string // ring ID
	key     string // room key
	ordinal int32  // the member it is spliced to
	member  *member

	// Guarded by registry.mu.
	misplaced bool        // not on its key's owner
	closing   closeKind   // the scheduled close, keep if none
	timer     *time.Timer // fires the scheduled close
}

// ringConns are the connections of one ring.
type ringConns struct {
	all       map[*conn]struct{}
	misplaced map[*conn]struct{} // those not on their key's owner
}

// registry tracks spliced connections per ring, and schedules their closes: paced over the
// rest of drainSeconds when their member is Draining, over the reunion window when their room's
// owner can take them back, and over the shutdown window when the gateway stops.
type registry struct {
	g *Gateway

	mu       sync.Mutex
	byRing   map[string]*ringConns // rings without connections have no entry
	stopping bool
	// empty is closed when the last connection is removed, for wait; nil when nobody waits.
	empty chan struct{}
}

func newRegistry(g *Gateway) *registry { return &registry{g: g, byRing: map[string]*ringConns{}} }

// add registers c, placed by a decision on snapshot decidedOn. If the table changed since,
// c is evaluated against the current one (Update stores the table before it reconciles, so no
// connection misses a change).
func (r *registry) add(c *conn, decidedOn *snapshot) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rc := r.byRing[c.ring]
	if rc == nil {
		rc = &ringConns{all: map[*conn]struct{}{}, misplaced: map[*conn]struct{}{}}
		r.byRing[c.ring] = rc
	}
	rc.all[c] = struct{}{}
	r.setMisplaced(rc, c, c.misplaced)
	now := time.Now()
	if r.stopping {
		r.pace([]*conn{c}, closeShutdown, now, now)
		return
	}
	if cur := r.g.snap.Load(); cur != decidedOn {
		r.evaluate(cur, c.ring, []*conn{c}, now)
	}
}

// remove forgets c once it has ended.
func (r *registry) remove(c *conn) {
	r.mu.Lock()
	if c.timer != nil {
		c.timer.Stop()
	}
	if rc := r.byRing[c.ring]; rc != nil {
		delete(rc.all, c)
		delete(rc.misplaced, c)
		if len(rc.all) == 0 {
			delete(r.byRing, c.ring)
		}
	}
	if len(r.byRing) == 0 && r.empty != nil {
		close(r.empty)
		r.empty = nil
	}
	r.mu.Unlock()
}

// reconcile evaluates every connection of the given rings against s.
func (r *registry) reconcile(s *snapshot, rings []string, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopping {
		return
	}
	for _, id := range rings {
		if rc := r.byRing[id]; rc != nil {
			r.evaluate(s, id, keys(rc.all), now)
		}
	}
}

// tick evaluates the connections that are not on their key's owner, whose owner may have
// become usable again without a table change (a passive health mark expired, a hold ended).
func (r *registry) tick(now time.Time) {
	s := r.g.snap.Load()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopping {
		return
	}
	for id, rc := range r.byRing {
		if len(rc.misplaced) > 0 {
			r.evaluate(s, id, keys(rc.misplaced), now)
		}
	}
}

func keys(set map[*conn]struct{}) []*conn {
	out := make([]*conn, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	return out
}

// evaluate decides, for connections of ring id, whether they should close, schedules the
// new closes paced, and cancels scheduled closes that are no longer wanted. Called with r.mu.
func (r *registry) evaluate(s *snapshot, id string, conns []*conn, now time.Time) {
	ring := s.table.Ring(id)
	if ring == nil {
		return // a deleted ring routes nothing: its connections end by themselves
	}
	drains := map[int32][]*conn{}
	var reunite []*conn
	for _, c := range conns {
		want := r.desired(s, ring, c, now)
		switch {
		case want == keep:
			r.cancel(c)
		case c.closing != keep:
			// already scheduled
		case want == closeDrain:
			drains[c.ordinal] = append(drains[c.ordinal], c)
		default:
			reunite = append(reunite, c)
		}
	}
	for ordinal, list := range drains {
		m := ring.Member(ordinal)
		// The rest of drainSeconds from when the member started draining; never more than
		// drainSeconds from now, even if the status clock runs ahead of ours.
		end := earliest(m.Since.Add(ring.DrainFor), now.Add(ring.DrainFor))
		r.g.log.Info("draining member connections", "ring", id, "member", m.Label,
			"connections", len(list), "window", max(end.Sub(now), 0).String())
		r.pace(list, closeDrain, now, end)
	}
	if len(reunite) > 0 {
		r.g.log.Info("reuniting rooms with their owners", "ring", id, "connections", len(reunite),
			"window", r.g.opts.ReunionWindow.String())
		r.pace(reunite, closeReunion, now, now.Add(r.g.opts.ReunionWindow))
	}
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// desired is why c should close now, or keep:
//   - its member is Draining: drain;
//   - its room's owner is another member and a new connection for the room would go to that
//     owner now: reunion (the room would otherwise be split);
//   - anything else keeps the connection, including a connection on a failover member while
//     the owner is still unusable: a ring change never touches a room whose owner is unchanged.
func (r *registry) desired(s *snapshot, ring *route.Ring, c *conn, now time.Time) closeKind {
	if m := ring.Member(c.ordinal); m != nil && m.State == v1alpha1.MemberDraining {
		return closeDrain
	}
	owner := ring.Owner(c.key)
	misplaced := owner == nil || owner.Ordinal != c.ordinal
	r.setMisplaced(r.byRing[c.ring], c, misplaced)
	if owner == nil || !misplaced {
		return keep
	}
	if d := ring.DecideKey(c.key, now, s); d.Action == route.Proxy && d.Member == owner {
		return closeReunion
	}
	return keep
}

func (r *registry) setMisplaced(rc *ringConns, c *conn, misplaced bool) {
	c.misplaced = misplaced
	if misplaced {
		rc.misplaced[c] = struct{}{}
	} else {
		delete(rc.misplaced, c)
	}
}

// pace schedules closes of kind for conns spread evenly over [now, end).
func (r *registry) pace(conns []*conn, kind closeKind, now, end time.Time) {
	for i, c := range conns {
		r.cancel(c)
		c.closing = kind
		c.timer = time.AfterFunc(pace.Spread(now, end, i, len(conns)).Sub(now), func() { r.fire(c, kind) })
	}
}

// cancel stops c's scheduled close, if any.
func (r *registry) cancel(c *conn) {
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	c.closing = keep
}

// fire closes c now.
func (r *registry) fire(c *conn, kind closeKind) {
	k := closeKinds[kind]
	r.g.metrics.pacedCloses.WithLabelValues(c.ring, c.member.label, k.label).Inc()
	c.tun.Close(k.code, k.reason)
}

// shutdown closes every connection with 1001, spread over window, and makes connections
// registered later close at once.
func (r *registry) shutdown(window time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopping = true
	var all []*conn
	for _, rc := range r.byRing {
		all = append(all, keys(rc.all)...)
	}
	now := time.Now()
	r.g.log.Info("closing websockets for shutdown", "connections", len(all), "window", window.String())
	r.pace(all, closeShutdown, now, now.Add(window))
}

// wait waits until every connection has ended or timeout passes, and reports whether they
// all ended.
func (r *registry) wait(timeout time.Duration) bool {
	r.mu.Lock()
	if len(r.byRing) == 0 {
		r.mu.Unlock()
		return true
	}
	if r.empty == nil {
		r.empty = make(chan struct{})
	}
	empty := r.empty
	r.mu.Unlock()
	select {
	case <-empty:
		return true
	case <-time.After(timeout):
		return false
	}
}

// killAll closes every remaining connection at once.
func (r *registry) killAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rc := range r.byRing {
		for c := range rc.all {
			c.tun.Kill()
		}
	}
}

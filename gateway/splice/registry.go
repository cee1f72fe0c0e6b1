// Package splice keeps the gateway's spliced (WebSocket and other upgraded) connections per
// ring and decides when the gateway closes them: paced over the rest of drainSeconds when
// their member is Draining, over the reunion window when their room's owner can take them back
// after a failover, and over the shutdown window when the gateway stops. The connections
// themselves are tunnels (package tunnel); the registry only schedules their closes.
package splice

import (
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/gateway/pace"
	"github.com/stablering/stablering/gateway/route"
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
	closeDown
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
	closeDown:     {"down", wsframe.CloseServiceRestart, "member went down while restarting"},
}

// Resumable is a tunnel that can outlive its member's planned restart: Detach lets go of the
// member and holds the client, Reattach splices the client to the member again, and Held says
// whether the client waits for a member. The gateway's *resume.Tunnel is one.
type Resumable interface {
	Tunnel
	Detach()
	Reattach()
	Held() bool
}

// Tunnel is what the registry does to a spliced connection: close it with a WebSocket close
// code and reason, or kill it at once. The gateway's *tunnel.Tunnel is one.
type Tunnel interface {
	Close(code uint16, reason string)
	Kill()
}

// Conn is a spliced connection as the registry knows it.
type Conn struct {
	Tunnel  Tunnel
	Ring    string // ring ID
	Key     string // room key
	Ordinal int32  // the member it is spliced to
	Label   string // the member's label, for metrics

	// Guarded by Registry.mu.
	misplaced bool        // not on its key's owner
	closing   closeKind   // the scheduled close, keep if none
	timer     clock.Timer // fires the scheduled close
}

// View is the routing state the registry evaluates connections against: a table and the
// passive health it was decided with.
type View struct {
	Table  *route.Table
	Health route.Health
}

// ringConns are the connections of one ring.
type ringConns struct {
	all       map[*Conn]struct{}
	misplaced map[*Conn]struct{} // those not on their key's owner
	held      map[*Conn]struct{} // resumable ones detached from their member, maybe no longer
}

// Registry tracks spliced connections per ring, and schedules their closes: paced over the
// rest of drainSeconds when their member is Draining, over the reunion window when their room's
// owner can take them back, and over the shutdown window when the gateway stops.
type Registry struct {
	opts Options

	mu       sync.Mutex
	byRing   map[string]*ringConns // rings without connections have no entry
	stopping bool
	// empty is closed when the last connection is removed, for Wait; nil when nobody waits.
	empty chan struct{}
}

// Options configure a Registry.
type Options struct {
	// Current returns the routing state now.
	Current func() View
	// Log receives the closes the registry schedules.
	Log logr.Logger
	// ReunionWindow spreads the closes that move rooms back to their owner.
	ReunionWindow time.Duration
	// Closed is called for each close the registry fires, with the connection's ring, member
	// label and the reason: drain, reunion or shutdown.
	Closed func(ring, label, reason string)
	// ResumeFailed is called for each held connection the registry closes (its member is
	// Down, the ring no longer resumes, the gateway shuts down), with the ring and the reason:
	// the close's label.
	ResumeFailed func(ring, reason string)
	// Clock times the closes; nil is the real clock.
	Clock clock.WithDelayedExecution
}

// NewRegistry returns an empty registry.
func NewRegistry(opts Options) *Registry {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	return &Registry{opts: opts, byRing: map[string]*ringConns{}}
}

// Add registers c, placed by a decision on table decidedOn, off its key's owner if misplaced
// (failed over). If the table changed since, c is evaluated against the current one (the
// gateway stores a table before it reconciles, so no connection misses a change).
func (r *Registry) Add(c *Conn, misplaced bool, decidedOn *route.Table) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rc := r.byRing[c.Ring]
	if rc == nil {
		rc = &ringConns{all: map[*Conn]struct{}{}, misplaced: map[*Conn]struct{}{}, held: map[*Conn]struct{}{}}
		r.byRing[c.Ring] = rc
	}
	rc.all[c] = struct{}{}
	r.setMisplaced(rc, c, misplaced)
	now := r.opts.Clock.Now()
	if r.stopping {
		r.pace([]*Conn{c}, closeShutdown, now, now)
		return
	}
	if cur := r.opts.Current(); cur.Table != decidedOn {
		r.evaluate(cur, c.Ring, []*Conn{c}, now)
	}
}

// Remove forgets c once it has ended.
func (r *Registry) Remove(c *Conn) {
	r.mu.Lock()
	if c.timer != nil {
		c.timer.Stop()
	}
	if rc := r.byRing[c.Ring]; rc != nil {
		delete(rc.all, c)
		delete(rc.misplaced, c)
		delete(rc.held, c)
		if len(rc.all) == 0 {
			delete(r.byRing, c.Ring)
		}
	}
	if len(r.byRing) == 0 && r.empty != nil {
		close(r.empty)
		r.empty = nil
	}
	r.mu.Unlock()
}

// Reconcile evaluates every connection of the given rings against v.
func (r *Registry) Reconcile(v View, rings []string, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopping {
		return
	}
	for _, id := range rings {
		if rc := r.byRing[id]; rc != nil {
			r.evaluate(v, id, keys(rc.all), now)
		}
	}
}

// Tick evaluates the connections that are not on their key's owner, whose owner may have
// become usable again without a table change (a passive health mark expired, a hold ended),
// and those held through a restart, whose detach may have ended after the member came back.
func (r *Registry) Tick(now time.Time) {
	v := r.opts.Current()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopping {
		return
	}
	for id, rc := range r.byRing {
		if len(rc.misplaced) > 0 || len(rc.held) > 0 {
			r.evaluate(v, id, append(keys(rc.misplaced), keys(rc.held)...), now)
		}
	}
}

func keys(set map[*Conn]struct{}) []*Conn {
	out := make([]*Conn, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	return out
}

// evaluate decides, for connections of ring id, whether they should close, schedules the
// new closes paced, and cancels scheduled closes that are no longer wanted. Called with r.mu.
func (r *Registry) evaluate(v View, id string, conns []*Conn, now time.Time) {
	ring := v.Table.Ring(id)
	if ring == nil {
		return // a deleted ring routes nothing: its connections end by themselves
	}
	drains := map[int32][]*Conn{}
	var reunite, downs []*Conn
	for _, c := range conns {
		want := r.desired(v, ring, c, now)
		switch {
		case want == keep:
			r.cancel(c)
		case c.closing != keep:
			// already scheduled
		case want == closeDrain:
			drains[c.Ordinal] = append(drains[c.Ordinal], c)
		case want == closeDown:
			downs = append(downs, c)
		default:
			reunite = append(reunite, c)
		}
	}
	if len(downs) > 0 {
		r.pace(downs, closeDown, now, now)
	}
	for ordinal, list := range drains {
		m := ring.Member(ordinal)
		// The rest of drainSeconds from when the member started draining; never more than
		// drainSeconds from now, even if the status clock runs ahead of ours.
		end := earliest(m.Since.Add(ring.DrainFor), now.Add(ring.DrainFor))
		r.opts.Log.Info("draining member connections", "ring", id, "member", m.Label,
			"connections", len(list), "window", max(end.Sub(now), 0).String())
		r.pace(list, closeDrain, now, end)
	}
	if len(reunite) > 0 {
		r.opts.Log.Info("reuniting rooms with their owners", "ring", id, "connections", len(reunite),
			"window", r.opts.ReunionWindow.String())
		r.pace(reunite, closeReunion, now, now.Add(r.opts.ReunionWindow))
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
func (r *Registry) desired(v View, ring *route.Ring, c *Conn, now time.Time) closeKind {
	if rt, ok := c.Tunnel.(Resumable); ok {
		if kind, decided := r.resumeAction(ring, c, rt); decided {
			return kind
		}
	}
	if m := ring.Member(c.Ordinal); m != nil && m.State == v1alpha1.MemberDraining {
		return closeDrain
	}
	owner := ring.Owner(c.Key)
	misplaced := owner == nil || owner.Ordinal != c.Ordinal
	r.setMisplaced(r.byRing[c.Ring], c, misplaced)
	if owner == nil || !misplaced {
		return keep
	}
	if d := ring.DecideKey(c.Key, now, v.Health); d.Action == route.Proxy && d.Member == owner {
		return closeReunion
	}
	return keep
}

// resumeAction moves a resumable connection through its member's planned restart, and reports
// whether it decided c's fate (else desired goes on as for any connection):
//   - its member is Draining on a ring with resume on: detach it, and keep it;
//   - it is held and its member is Serving: reattach it, and keep it;
//   - it is held and its member is Restarting: keep it;
//   - it is held and anything else happened (the member is Down or gone, resume was turned
//     off): close it at once.
func (r *Registry) resumeAction(ring *route.Ring, c *Conn, rt Resumable) (closeKind, bool) {
	m := ring.Member(c.Ordinal)
	rc := r.byRing[c.Ring]
	if ring.Resume == nil || m == nil {
		return closeDown, rt.Held()
	}
	switch {
	case m.State == v1alpha1.MemberDraining:
		r.cancel(c)
		rt.Detach()
		rc.held[c] = struct{}{}
		return keep, true
	case !rt.Held():
		delete(rc.held, c)
		return keep, false
	case m.State == v1alpha1.MemberServing:
		rt.Reattach()
		return keep, true
	case m.State == v1alpha1.MemberRestarting:
		return keep, true
	}
	return closeDown, true
}

func (r *Registry) setMisplaced(rc *ringConns, c *Conn, misplaced bool) {
	c.misplaced = misplaced
	if misplaced {
		rc.misplaced[c] = struct{}{}
	} else {
		delete(rc.misplaced, c)
	}
}

// pace schedules closes of kind for conns spread evenly over [now, end).
func (r *Registry) pace(conns []*Conn, kind closeKind, now, end time.Time) {
	for i, c := range conns {
		r.cancel(c)
		c.closing = kind
		c.timer = r.opts.Clock.AfterFunc(pace.Spread(now, end, i, len(conns)).Sub(now), func() { r.fire(c, kind) })
	}
}

// cancel stops c's scheduled close, if any.
func (r *Registry) cancel(c *Conn) {
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	c.closing = keep
}

// fire closes c now.
func (r *Registry) fire(c *Conn, kind closeKind) {
	k := closeKinds[kind]
	r.opts.Closed(c.Ring, c.Label, k.label)
	if rt, ok := c.Tunnel.(Resumable); ok && rt.Held() && r.opts.ResumeFailed != nil {
		r.opts.ResumeFailed(c.Ring, k.label)
	}
	c.Tunnel.Close(k.code, k.reason)
}

// Shutdown closes every connection with 1001, spread over window, and makes connections
// registered later close at once.
func (r *Registry) Shutdown(window time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopping = true
	var all []*Conn
	for _, rc := range r.byRing {
		all = append(all, keys(rc.all)...)
	}
	now := r.opts.Clock.Now()
	r.opts.Log.Info("closing websockets for shutdown", "connections", len(all), "window", window.String())
	r.pace(all, closeShutdown, now, now.Add(window))
}

// Wait waits until every connection has ended or timeout passes, and reports whether they
// all ended.
func (r *Registry) Wait(timeout time.Duration) bool {
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
	case <-r.opts.Clock.After(timeout):
		return false
	}
}

// KillAll closes every remaining connection at once.
func (r *Registry) KillAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rc := range r.byRing {
		for c := range rc.all {
			c.Tunnel.Kill()
		}
	}
}

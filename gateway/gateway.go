// Package gateway is StableRing's reverse proxy. It routes each request by its room key on the
// ring that a StableRing's status resolves (see package route), proxies plain HTTP through
// net/http/httputil.ReverseProxy and splices WebSocket and other upgrades itself (package
// tunnel), and applies the availability semantics of the product:
//
//   - Serving members get their rooms; Draining members keep their connections for now, but
//     they are closed (WebSocket close 1012) spread evenly over the rest of drainSeconds, while
//     new connections are held (503 with a jittered Retry-After); Restarting members are held.
//   - Down members are held for holdSeconds under the Hold policy, then failed over in the
//     balancer's deterministic order; when the owner serves again, connections placed elsewhere
//     are closed, paced over the reunion window, so no room stays split.
//   - Upgrades are admitted at spec.rollout.maxConnectsPerSecond per member (token bucket); a
//     failed dial marks a member unreachable for a while (passive health) and the request gets
//     the policy's answer, never a silent move to another pod.
//
// The routing table is immutable and swapped atomically by [Gateway.Update], so a ring change
// reloads nothing and touches no established connection unless its room's owner changed.
package gateway

import (
	"bufio"
	"net"
	"net/http"
	"net/textproto"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/gateway/bufpool"
	"github.com/stablering/stablering/gateway/pace"
	"github.com/stablering/stablering/gateway/route"
	"github.com/stablering/stablering/gateway/splice"
	"github.com/stablering/stablering/gateway/upstream"
)

// Options configure a Gateway. Zero durations and sizes take the documented defaults.
type Options struct {
	// Log receives structured logs; the zero value discards them.
	Log logr.Logger
	// Registry receives the metrics; nil creates one (see Gateway.Registry).
	Registry *prometheus.Registry

	// MemberHeader names a response header that carries the member (namespace/name/ordinal)
	// that served the request or whose room is held; empty sends none.
	MemberHeader string
	// TrustForwarded appends to the client's X-Forwarded-For and keeps its X-Forwarded-Host
	// and X-Forwarded-Proto, for gateways behind another proxy; otherwise they are replaced.
	TrustForwarded bool

	// DialTimeout bounds connecting to a member (default 5s).
	DialTimeout time.Duration
	// UpgradeTimeout bounds a member's answer to an upgrade request (default 10s).
	UpgradeTimeout time.Duration
	// FailTimeout is how long a member whose dial failed stays unreachable (default 10s).
	FailTimeout time.Duration
	// ReadHeaderTimeout bounds reading a client's request head (default 10s); the client gets
	// nothing and the connection is closed.
	ReadHeaderTimeout time.Duration
	// ClientBodyTimeout bounds the wait for each read of a client's request body (default 60s);
	// the client gets 408 when the member has not answered yet.
	ClientBodyTimeout time.Duration
	// SendTimeout bounds each write to a client, and each write in either direction of a
	// spliced connection (default 60s); the connection is closed.
	SendTimeout time.Duration
	// MemberReadTimeout bounds the wait for a member's first byte after the request was sent,
	// and then for each read of its answer (default 60s); 504 before the answer started.
	MemberReadTimeout time.Duration
	// IdleTimeout closes idle client keep-alive connections (default 120s).
	IdleTimeout time.Duration
	// UpstreamIdleTimeout closes idle pooled member connections (default 90s).
	UpstreamIdleTimeout time.Duration
	// MaxHeaderBytes bounds a client's request head, request line included (default 32 KiB);
	// beyond it the client gets 431.
	MaxHeaderBytes int
	// MaxHeaders bounds the number of header fields of a request (default 100); beyond it the
	// client gets 431.
	MaxHeaders int
	// MaxConnections bounds the client connections open at once, plain and spliced; at the cap
	// new connections wait in the listen backlog. 0 takes half the open-files limit.
	MaxConnections int
	// MaxIdleConnsPerMember bounds the keep-alive pool of each member (default 64).
	MaxIdleConnsPerMember int

	// CloseGrace bounds each step of closing a WebSocket: reaching a frame boundary, then the
	// client's Close answer (default 2s).
	CloseGrace time.Duration
	// ReunionWindow spreads the closes that move a room back to its owner (default 5s).
	ReunionWindow time.Duration
	// ReconcileInterval is how often connections placed away from their owner are checked
	// (default 1s).
	ReconcileInterval time.Duration
	// MaxRetryAfter caps the Retry-After of held requests (default 30s).
	MaxRetryAfter time.Duration

	// ShutdownDelay is how long the gateway keeps serving while not ready before it stops
	// accepting, so load balancers can take it out (default 0).
	ShutdownDelay time.Duration
	// ShutdownWindow spreads the WebSocket closes (1001) of a shutdown (default 10s).
	ShutdownWindow time.Duration

	// H2C accepts HTTP/2 without TLS (prior knowledge) besides HTTP/1.1.
	H2C bool
	// Pprof serves the Go runtime's profiles (net/http/pprof) under /debug/pprof/ on the admin
	// port. Off by default: a profile costs CPU while it runs and shows the process's internals.
	Pprof bool
	// TLSCertFile and TLSKeyFile serve TLS (with HTTP/2) when both are set.
	TLSCertFile, TLSKeyFile string
}

// DefaultOptions are the defaults of every timing and limit: the gateway's, its flags', the
// chart's and the user guide's. Log and Registry are left to the caller.
func DefaultOptions() Options {
	return Options{
		DialTimeout:           5 * time.Second,
		UpgradeTimeout:        10 * time.Second,
		FailTimeout:           10 * time.Second,
		ReadHeaderTimeout:     10 * time.Second,
		ClientBodyTimeout:     60 * time.Second,
		SendTimeout:           60 * time.Second,
		MemberReadTimeout:     60 * time.Second,
		IdleTimeout:           120 * time.Second,
		UpstreamIdleTimeout:   90 * time.Second,
		MaxHeaderBytes:        32 << 10,
		MaxHeaders:            100,
		MaxIdleConnsPerMember: 64,
		CloseGrace:            2 * time.Second,
		ReunionWindow:         5 * time.Second,
		ReconcileInterval:     time.Second,
		MaxRetryAfter:         30 * time.Second,
		ShutdownWindow:        10 * time.Second,
	}
}

// setDefaults gives every zero timing and limit its value from DefaultOptions.
func (o *Options) setDefaults() {
	d := DefaultOptions()
	orDefault(&o.DialTimeout, d.DialTimeout)
	orDefault(&o.UpgradeTimeout, d.UpgradeTimeout)
	orDefault(&o.FailTimeout, d.FailTimeout)
	orDefault(&o.ReadHeaderTimeout, d.ReadHeaderTimeout)
	orDefault(&o.ClientBodyTimeout, d.ClientBodyTimeout)
	orDefault(&o.SendTimeout, d.SendTimeout)
	orDefault(&o.MemberReadTimeout, d.MemberReadTimeout)
	orDefault(&o.IdleTimeout, d.IdleTimeout)
	orDefault(&o.UpstreamIdleTimeout, d.UpstreamIdleTimeout)
	orDefault(&o.MaxHeaderBytes, d.MaxHeaderBytes)
	orDefault(&o.MaxHeaders, d.MaxHeaders)
	orDefault(&o.MaxConnections, defaultMaxConnections())
	orDefault(&o.MaxIdleConnsPerMember, d.MaxIdleConnsPerMember)
	orDefault(&o.CloseGrace, d.CloseGrace)
	orDefault(&o.ReunionWindow, d.ReunionWindow)
	orDefault(&o.ReconcileInterval, d.ReconcileInterval)
	orDefault(&o.MaxRetryAfter, d.MaxRetryAfter)
	orDefault(&o.ShutdownWindow, d.ShutdownWindow)
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
}

// orDefault sets *v to def unless it is positive.
func orDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// copyBufferSize is the size of pooled copy buffers; keepBuffers how many idle ones are kept.
const (
	copyBufferSize = 32 << 10
	keepBuffers    = 256
	// handshakeBufferSize buffers a member's answer to an upgrade.
	handshakeBufferSize = 4 << 10
)

// Gateway routes and proxies requests by StableRing. Create it with New, feed it rings with
// Update, and serve it with Serve (or use it as an http.Handler).
type Gateway struct {
	opts         Options
	log          logr.Logger
	memberHeader string // canonical form of opts.MemberHeader
	metrics      *metrics
	pool         *bufpool.Pool
	dialer       *upstream.Dialer
	fallback     *http.Transport  // shared by the targets for what they do not exchange themselves
	upstreamOpts upstream.Options // of every target
	writers      sync.Pool        // of *responseWriter
	readers      sync.Pool        // of *bufio.Reader, for upgrade handshakes

	snap     atomic.Pointer[snapshot]
	ready    atomic.Bool // a first snapshot arrived
	stopping atomic.Bool // shutting down

	mu      sync.Mutex         // serializes Update; guards members and targets
	members map[string]*member // by member ID, across ring versions
	targets map[string]*target // by address, across ring versions

	conns   *splice.Registry
	clients atomic.Pointer[limitListener] // the capped proxy listener, once serving
}

// New returns a gateway with an empty routing table: every request gets 404 until Update.
func New(opts Options) *Gateway {
	opts.setDefaults()
	g := &Gateway{
		opts:         opts,
		log:          opts.Log,
		memberHeader: textproto.CanonicalMIMEHeaderKey(opts.MemberHeader),
		pool:         bufpool.New(copyBufferSize, keepBuffers),
		members:      map[string]*member{},
		targets:      map[string]*target{},
	}
	g.dialer = &upstream.Dialer{Dialer: net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second}}
	g.upstreamOpts = upstream.Options{
		MaxIdle:      opts.MaxIdleConnsPerMember,
		IdleTimeout:  opts.UpstreamIdleTimeout,
		ReadTimeout:  opts.MemberReadTimeout,
		WriteTimeout: opts.SendTimeout,
	}
	g.fallback = upstream.NewFallback(g.dialer.Dial, g.upstreamOpts)
	g.writers.New = func() any { return new(responseWriter) }
	g.readers.New = func() any { return bufio.NewReaderSize(nil, handshakeBufferSize) }
	g.conns = splice.NewRegistry(splice.Options{
		Current:       func() splice.View { return g.snap.Load().view() },
		Log:           opts.Log,
		ReunionWindow: opts.ReunionWindow,
		Closed: func(ring, label, reason string) {
			g.metrics.pacedCloses.WithLabelValues(ring, label, reason).Inc()
		},
	})
	g.metrics = newMetrics(opts.Registry, g)
	g.dialer.LocalError = func(errno string) { g.metrics.localErrors.WithLabelValues(errno).Inc() }
	g.snap.Store(&snapshot{table: route.Build(nil, nil, time.Now())})
	return g
}

// Registry returns the Prometheus registry with the gateway's metrics.
func (g *Gateway) Registry() *prometheus.Registry { return g.opts.Registry }

// Ready reports whether the gateway has a routing table and is not shutting down.
func (g *Gateway) Ready() bool { return g.ready.Load() && !g.stopping.Load() }

// Update swaps the routing table for one built from rings (a complete snapshot). Requests
// move to the new table atomically; established connections are closed only where the new
// table says so: their member is Draining, or their room's owner serves again elsewhere.
func (g *Gateway) Update(rings []v1alpha1.StableRing) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	old := g.snap.Load()
	next := g.newSnapshot(route.Build(rings, old.table, now))
	g.snap.Store(next)
	changed := g.logChanges(old.table, next.table)
	g.conns.Reconcile(next.view(), changed, now)
	g.ready.Store(true)
}

// logChanges logs rings that appeared, changed version, cannot route or went away, counts
// members that started draining, and returns the IDs of rings whose routing may have changed.
func (g *Gateway) logChanges(old, next *route.Table) []string {
	var changed []string
	for _, r := range next.Rings() {
		prev := old.Ring(r.ID)
		if prev != nil && prev.Version == r.Version && r.Version != "" {
			continue
		}
		changed = append(changed, r.ID)
		g.metrics.swaps.WithLabelValues(r.ID).Inc()
		g.countDrains(prev, r)
		if r.Err != nil {
			g.log.Error(r.Err, "ring cannot route; its requests get 503", "ring", r.ID, "version", r.Version)
			continue
		}
		g.log.Info("ring updated", "ring", r.ID, "version", r.Version, "previous", versionOf(prev),
			"algorithm", r.Algorithm(), "members", memberStates(r))
	}
	for _, r := range old.Rings() {
		if next.Ring(r.ID) == nil {
			g.log.Info("ring removed", "ring", r.ID, "version", r.Version)
		}
	}
	return changed
}

// countDrains counts the members of r that are Draining and were not in prev.
func (g *Gateway) countDrains(prev, r *route.Ring) {
	for i := range r.Members() {
		m := &r.Members()[i]
		if m.State != v1alpha1.MemberDraining {
			continue
		}
		if pm := prev.Member(m.Ordinal); pm == nil || pm.State != v1alpha1.MemberDraining {
			g.metrics.drains.WithLabelValues(r.ID, m.Label).Inc()
		}
	}
}

func versionOf(r *route.Ring) string {
	if r == nil {
		return ""
	}
	return r.Version
}

// memberStates summarises members for logs: "0=Serving 1=Draining".
func memberStates(r *route.Ring) []string {
	out := make([]string, 0, len(r.Members()))
	for _, m := range r.Members() {
		out = append(out, m.Label+"="+string(m.State))
	}
	return out
}

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
	up     *target // nil when the member has no address
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
				sl.up = g.targetFor(m.Address)
				s.targets[m.Address] = sl.up
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

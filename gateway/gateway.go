// Package gateway is StableRing's reverse proxy. It routes each request by its room key on the
// ring that a StableRing's status and MemberSlices resolve (package route). Cleartext HTTP/1.1
// requests without a body and WebSocket handshakes take its own serving path (h1server.go, heads
// parsed in place by package h1); a connection with any other request goes to net/http's server, which also serves
// TLS and HTTP/2 and proxies through httputil.ReverseProxy. Both use the same per-member pools
// (package upstream), splice upgrades themselves (package tunnel, their closes scheduled by
// package splice), and apply the availability semantics of the product:
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
//
// Requests are screened before they are routed (screen.go, body.go) and every phase after the
// head is bounded in time (Options); docs/user-guide.md lists each limit.
package gateway

import (
	"bufio"
	"log"
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
	"github.com/stablering/stablering/gateway/coarse"
	"github.com/stablering/stablering/gateway/resolved"
	"github.com/stablering/stablering/gateway/resume"
	"github.com/stablering/stablering/gateway/route"
	"github.com/stablering/stablering/gateway/splice"
	"github.com/stablering/stablering/gateway/upstream"
)

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
	proxyLog     *log.Logger      // ErrorLog of every target's ReverseProxy
	writers      sync.Pool        // of *responseWriter
	readers      sync.Pool        // of *bufio.Reader, for upgrade handshakes
	resumeBudget *resume.Budget   // shared by the resumable tunnels

	snap     atomic.Pointer[snapshot]
	ready    atomic.Bool // a first snapshot arrived
	stopping atomic.Bool // shutting down

	mu      sync.Mutex // serializes Update; guards the targets' reference counts
	targets *targetSet // by address, across ring versions

	conns   *splice.Registry
	clients atomic.Pointer[limitListener] // the capped proxy listener, once serving
	clock   *coarse.Clock                 // for the deadlines of the HTTP/1.1 path, while serving
}

// New returns a gateway with an empty routing table: every request gets 404 until Update.
func New(opts Options) *Gateway {
	opts.setDefaults()
	g := &Gateway{
		opts:         opts,
		log:          opts.Log,
		memberHeader: textproto.CanonicalMIMEHeaderKey(opts.MemberHeader),
		pool:         bufpool.New(copyBufferSize, keepBuffers),
		targets:      &targetSet{},
	}
	g.dialer = &upstream.Dialer{Dialer: net.Dialer{Timeout: opts.DialTimeout, KeepAliveConfig: tcpKeepAlive}}
	g.upstreamOpts = upstream.Options{
		MaxIdle:      opts.MaxIdleConnsPerMember,
		IdleTimeout:  opts.UpstreamIdleTimeout,
		ReadTimeout:  opts.MemberReadTimeout,
		WriteTimeout: opts.SendTimeout,
		DialUpgrade:  g.dialer.DialTunnel,
	}
	g.fallback = upstream.NewFallback(g.dialer.Dial, g.upstreamOpts)
	g.proxyLog = g.errorLog("reverse proxy")
	g.writers.New = func() any { return new(responseWriter) }
	g.readers.New = func() any { return bufio.NewReaderSize(nil, handshakeBufferSize) }
	g.conns = splice.NewRegistry(splice.Options{
		Current:       func() splice.View { return g.snap.Load().view() },
		Log:           opts.Log,
		ReunionWindow: opts.ReunionWindow,
		Closed: func(ring, label, reason string) {
			g.metrics.pacedCloses.WithLabelValues(ring, label, reason).Inc()
		},
		ResumeFailed: func(ring, reason string) { g.metrics.resumeFailed(ring, reason) },
	})
	g.resumeBudget = resume.NewBudget(int64(opts.ResumeBufferBudget))
	g.metrics = newMetrics(opts.Registry, g)
	g.dialer.LocalError = func(errno string) { g.metrics.localErrors.WithLabelValues(errno).Inc() }
	g.snap.Store(&snapshot{table: route.Build(nil, nil, time.Now()), targets: g.targets})
	return g
}

// Registry returns the Prometheus registry with the gateway's metrics.
func (g *Gateway) Registry() *prometheus.Registry { return g.opts.Registry }

// Ready reports whether the gateway has a routing table and is not shutting down.
func (g *Gateway) Ready() bool { return g.ready.Load() && !g.stopping.Load() }

// Update swaps the routing table for one built from rings (a complete snapshot, as a
// source.Source publishes it). Requests move to the new table atomically; established
// connections are closed only where the new table says so: their member is Draining, or their
// room's owner serves again elsewhere.
func (g *Gateway) Update(rings []resolved.Ring) {
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

package gateway

import (
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stablering/stablering/gateway/resume"
	"github.com/stablering/stablering/gateway/route"
)

const namespace = "stablering_gateway"

// metrics are the gateway's Prometheus metrics. Counters on the request path are looked up
// through caches so that counting allocates nothing once a series exists.
type metrics struct {
	requests    *cachedCounters // ring, member, code
	upgrades    *cachedCounters // ring, member, code
	held        *cachedCounters // ring, member, reason
	rateLimited *cachedCounters // ring, member
	pacedCloses *prometheus.CounterVec
	drains      *prometheus.CounterVec
	swaps       *prometheus.CounterVec
	localErrors *prometheus.CounterVec
	handoffs    prometheus.Counter
	routing     prometheus.Histogram
	resumes     *prometheus.CounterVec   // ring, result
	resumeFails *prometheus.CounterVec   // ring, reason
	resumeHeld  *prometheus.HistogramVec // ring
}

func newMetrics(reg prometheus.Registerer, g *Gateway) *metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
	}
	m := &metrics{
		requests: newCachedCounters(counter("requests_total",
			"Plain HTTP requests by ring, member and status code (499: the client went away).",
			"ring", "member", "code")),
		upgrades: newCachedCounters(counter("upgrades_total",
			"Upgrade (WebSocket) requests by ring, member and status code; 101 is spliced.",
			"ring", "member", "code")),
		held: newCachedCounters(counter("held_total",
			"Requests answered 503 with Retry-After by the gateway, by ring, member and reason.",
			"ring", "member", "reason")),
		rateLimited: newCachedCounters(counter("rate_limited_total",
			"Upgrades refused by the maxConnectsPerSecond admission limit, by ring and member.",
			"ring", "member")),
		pacedCloses: counter("paced_closes_total",
			"Connections closed by the gateway, by ring, member and reason (drain, reunion, shutdown).",
			"ring", "member", "reason"),
		drains: counter("drains_total", "Members seen entering Draining, by ring and member.",
			"ring", "member"),
		swaps: counter("ring_swaps_total", "Routing table swaps that changed a ring's version, by ring.",
			"ring"),
		localErrors: counter("local_errors_total",
			"Connections to members the gateway could not open for lack of its own resources, by errno "+
				"(EMFILE, ENFILE, ENOBUFS, ENOMEM, EADDRNOTAVAIL); the member is not marked unreachable.",
			"errno"),
		handoffs: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "handoffs_total",
			Help: "Cleartext client connections the gateway's own HTTP/1.1 path handed to net/http's server " +
				"(a request with a body, another method or version, an upgrade but to WebSocket, a head over 4 KiB)."}),
		routing: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "routing_seconds",
			Help:    "Time to route a request: match the ring, read the key, decide the member.",
			Buckets: []float64{1e-7, 2.5e-7, 5e-7, 1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 1e-4, 1e-3},
		}),
		resumes: counter("resumes_total",
			"WebSockets held through their member's planned restart, by ring and result: resumed (spliced to "+
				"the restarted member), refused (the member answered the resume with another status than 101) or "+
				"failed (see resume_failures_total).",
			"ring", "result"),
		resumeFails: counter("resume_failures_total",
			"Held WebSockets closed with 1012 or 1001 instead of resumed, by ring and reason: buffer, budget, "+
				"timeout, mid-message, refused, mismatch, unreached, down, drain (resume turned off), shutdown.",
			"ring", "reason"),
		resumeHeld: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "resume_seconds",
			Help:    "How long resumed WebSockets were held: from the detach of the member to the resume.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120},
		}, []string{"ring"}),
	}
	reg.MustRegister(m.requests.vec, m.upgrades.vec, m.held.vec, m.rateLimited.vec, m.pacedCloses,
		m.drains, m.swaps, m.localErrors, m.handoffs, m.routing, m.resumes, m.resumeFails, m.resumeHeld,
		&stateCollector{g: g})
	return m
}

// resumed counts a resume that held its client for held.
func (m *metrics) resumed(ring string, held float64) {
	m.resumes.WithLabelValues(ring, "resumed").Inc()
	m.resumeHeld.WithLabelValues(ring).Observe(held)
}

// resumeFailed counts a held connection closed instead of resumed.
func (m *metrics) resumeFailed(ring, reason string) {
	result := "failed"
	if reason == resume.ReasonRefused {
		result = "refused"
	}
	m.resumes.WithLabelValues(ring, result).Inc()
	m.resumeFails.WithLabelValues(ring, reason).Inc()
}

// countRequest counts a request that got code.
func (m *metrics) countRequest(d route.Decision, code int, upgrade bool) {
	vec := m.requests
	if upgrade {
		vec = m.upgrades
	}
	vec.inc(ringLabel(d), memberLabel(d), codeLabel(code))
}

// countHeld counts a 503 answer of the gateway.
func (m *metrics) countHeld(d route.Decision) {
	if d.Reason == route.ReasonRateLimited {
		m.rateLimited.inc(ringLabel(d), memberLabel(d), "")
		return
	}
	m.held.inc(ringLabel(d), memberLabel(d), d.Reason.String())
}

func ringLabel(d route.Decision) string {
	if d.Ring == nil {
		return ""
	}
	return d.Ring.ID
}

func memberLabel(d route.Decision) string {
	if d.Member == nil {
		return ""
	}
	return d.Member.Label
}

// codeLabels are the status codes as strings, so labels need no formatting.
var codeLabels = func() []string {
	out := make([]string, 600)
	for i := range out {
		out[i] = strconv.Itoa(i)
	}
	return out
}()

func codeLabel(code int) string {
	if code >= 0 && code < len(codeLabels) {
		return codeLabels[code]
	}
	return strconv.Itoa(code)
}

// cachedCounters is a CounterVec with up to three labels whose series are cached by label
// values, so counting an existing series is a map lookup under a read lock.
type cachedCounters struct {
	vec   *prometheus.CounterVec
	mu    sync.RWMutex
	cache map[[3]string]prometheus.Counter
}

func newCachedCounters(vec *prometheus.CounterVec) *cachedCounters {
	return &cachedCounters{vec: vec, cache: map[[3]string]prometheus.Counter{}}
}

// inc increments the series a, b, c; c is ignored by two-label vectors.
func (cc *cachedCounters) inc(a, b, c string) {
	k := [3]string{a, b, c}
	cc.mu.RLock()
	ctr := cc.cache[k]
	cc.mu.RUnlock()
	if ctr == nil {
		ctr = cc.create(k)
	}
	ctr.Inc()
}

func (cc *cachedCounters) create(k [3]string) prometheus.Counter {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if ctr := cc.cache[k]; ctr != nil {
		return ctr
	}
	var ctr prometheus.Counter
	if k[2] == "" {
		ctr = cc.vec.WithLabelValues(k[0], k[1])
	} else {
		ctr = cc.vec.WithLabelValues(k[0], k[1], k[2])
	}
	cc.cache[k] = ctr
	return ctr
}

// stateCollector exports gauges read from the gateway's current state when scraped.
type stateCollector struct{ g *Gateway }

var (
	activeDesc = prometheus.NewDesc(namespace+"_active_connections",
		"Spliced (WebSocket) connections by ring and member; members without any are left out.", []string{"ring", "member"}, nil)
	ringDesc = prometheus.NewDesc(namespace+"_ring_info",
		"The ring version each ring is routed by (value 1).", []string{"ring", "version", "algorithm"}, nil)
	membersDesc = prometheus.NewDesc(namespace+"_ring_members",
		"Ring members by state.", []string{"ring", "state"}, nil)
	clientsDesc = prometheus.NewDesc(namespace+"_client_connections",
		"Client connections open on the proxy port, plain and spliced.", nil, nil)
	maxClientsDesc = prometheus.NewDesc(namespace+"_max_client_connections",
		"The cap of client connections (--max-connections); at the cap new ones wait in the listen backlog.", nil, nil)
	readyDesc = prometheus.NewDesc(namespace+"_ready",
		"1 when the gateway has a routing table and is not shutting down.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- activeDesc
	ch <- ringDesc
	ch <- membersDesc
	ch <- clientsDesc
	ch <- maxClientsDesc
	ch <- readyDesc
}

// Collect implements prometheus.Collector.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.g.snap.Load()
	for _, r := range s.table.Rings() {
		ch <- prometheus.MustNewConstMetric(ringDesc, prometheus.GaugeValue, 1, r.ID, r.Version, string(r.Algorithm()))
		for state, n := range r.States() {
			ch <- prometheus.MustNewConstMetric(membersDesc, prometheus.GaugeValue, float64(n), r.ID, string(state))
		}
	}
	// Only members with connections: at 100 rings of 1,000 members, a series for every member
	// made each scrape 100,000 zeros (8.7 MB, hundreds of milliseconds). The snapshot is
	// immutable, so reading it holds up no routing table.
	for _, row := range s.slots {
		for _, sl := range row {
			if n := sl.member.active.Load(); n > 0 {
				ch <- prometheus.MustNewConstMetric(activeDesc, prometheus.GaugeValue, float64(n), sl.member.ring, sl.member.label)
			}
		}
	}
	if l := c.g.clients.Load(); l != nil {
		ch <- prometheus.MustNewConstMetric(clientsDesc, prometheus.GaugeValue, float64(l.open()))
		ch <- prometheus.MustNewConstMetric(maxClientsDesc, prometheus.GaugeValue, float64(l.limit()))
	}
	ready := 0.0
	if c.g.Ready() {
		ready = 1
	}
	ch <- prometheus.MustNewConstMetric(readyDesc, prometheus.GaugeValue, ready)
}

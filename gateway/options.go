package gateway

import (
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
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
	// MaxHeaders bounds the number of header fields of a request, Host not counted (default
	// 100); beyond it the client gets 431.
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

	// ResumeBufferBudget bounds the bytes of client frames that all the WebSockets held through
	// their members' restarts (spec.connections.resume) buffer together (default 64 MiB); a
	// connection whose frames do not fit is closed with 1012.
	ResumeBufferBudget int

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
		ResumeBufferBudget:    64 << 20,
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
	orDefault(&o.ResumeBufferBudget, d.ResumeBufferBudget)
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

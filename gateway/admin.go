package gateway

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stablering/stablering/gateway/route"
)

// AdminHandler serves the admin endpoints:
//
//	/healthz       200 while the process runs
//	/readyz        200 once a routing table arrived (the informer synced or the rings file
//	               parsed), 503 before that and while shutting down
//	/metrics       Prometheus metrics
//	/debug/rings   the routing table as JSON: every ring's version, route, key, policy and
//	               members with their state, address, passive health and connections
//	/debug/lookup  ?ring=NAMESPACE/NAME&key=KEY: the key's owner and what a request gets now
//	/debug/pprof/  with Options.Pprof: the Go runtime's CPU, heap, goroutine and other profiles
func (g *Gateway) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeText(w, http.StatusOK, "ok\n") })
	mux.HandleFunc("GET /readyz", g.serveReady)
	mux.Handle("GET /metrics", promhttp.HandlerFor(g.opts.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /debug/rings", g.serveRings)
	mux.HandleFunc("GET /debug/lookup", g.serveLookup)
	if g.opts.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

func (g *Gateway) serveReady(w http.ResponseWriter, _ *http.Request) {
	switch {
	case g.stopping.Load():
		writeText(w, http.StatusServiceUnavailable, "shutting down\n")
	case !g.ready.Load():
		writeText(w, http.StatusServiceUnavailable, "waiting for the first StableRing snapshot\n")
	default:
		writeText(w, http.StatusOK, "ready\n")
	}
}

func writeText(w http.ResponseWriter, status int, body string) {
	setTextHeaders(w.Header())
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// RingView is a ring in /debug/rings.
type RingView struct {
	Ring                 string       `json:"ring"`                 // namespace/name
	Version              string       `json:"version"`              // status.ringVersion routed by
	Algorithm            string       `json:"algorithm"`            // hashing algorithm
	Hosts                []string     `json:"hosts"`                // hosts served; empty is any
	PathPrefix           string       `json:"pathPrefix"`           // path prefix served
	Key                  string       `json:"key"`                  // where the room key is read
	Policy               string       `json:"policy"`               // Hold or Failover
	HoldSeconds          float64      `json:"holdSeconds"`          // hold of a Down member
	DrainSeconds         float64      `json:"drainSeconds"`         // drain window
	MaxConnectsPerSecond int32        `json:"maxConnectsPerSecond"` // admission rate; 0 unlimited
	Error                string       `json:"error,omitempty"`      // why the ring cannot route
	Members              []MemberView `json:"members"`              // every member of the ring
}

// MemberView is a ring member in /debug/rings and /debug/lookup.
type MemberView struct {
	Ordinal          int32      `json:"ordinal"`                    // pod ordinal
	Pod              string     `json:"pod"`                        // pod name
	Address          string     `json:"address"`                    // podIP:port proxied to
	State            string     `json:"state"`                      // member state resolved
	Since            time.Time  `json:"since"`                      // when it entered State
	Joined           bool       `json:"joined"`                     // on the hash ring (not Pending)
	UnreachableUntil *time.Time `json:"unreachableUntil,omitempty"` // passive health mark
	Connections      int64      `json:"connections"`                // spliced connections
}

// LookupView is the answer of /debug/lookup.
type LookupView struct {
	Ring    string      `json:"ring"`    // namespace/name
	Version string      `json:"version"` // ring version decided on
	Key     string      `json:"key"`     // the room key looked up
	Owner   *MemberView `json:"owner"`   // the key's owner; null when the ring is empty
	// Action is proxy, hold or unavailable.
	Action string `json:"action"`
	// Reason says why, e.g. owner, failover, draining, restarting, down, unreachable.
	Reason string `json:"reason"`
	// Status is what the request gets from the gateway: 0 when proxied.
	Status int `json:"status"`
	// Member is the member proxied to, or whose room is held.
	Member *MemberView `json:"member,omitempty"`
	// RetryAfterSeconds is the expected wait of a held request, before jitter.
	RetryAfterSeconds float64 `json:"retryAfterSeconds,omitempty"`
	// Message is the body of the gateway's answer, when it answers itself.
	Message string `json:"message,omitempty"`
}

func (g *Gateway) serveRings(w http.ResponseWriter, _ *http.Request) {
	s := g.snap.Load()
	now := time.Now()
	views := make([]RingView, 0, len(s.table.Rings()))
	for _, r := range s.table.Rings() {
		views = append(views, ringView(s, r, now))
	}
	writeJSON(w, http.StatusOK, map[string]any{"rings": views})
}

func ringView(s *snapshot, r *route.Ring, now time.Time) RingView {
	v := RingView{
		Ring: r.ID, Version: r.Version, Algorithm: string(r.Algorithm()), Hosts: r.Hosts,
		PathPrefix: r.Prefix, Key: r.Key.Where(), Policy: string(r.Policy),
		HoldSeconds: r.HoldFor.Seconds(), DrainSeconds: r.DrainFor.Seconds(),
		MaxConnectsPerSecond: r.MaxConnectsPerSecond, Members: []MemberView{},
	}
	if r.Err != nil {
		v.Error = r.Err.Error()
	}
	for i := range r.Members() {
		v.Members = append(v.Members, memberView(s, r, &r.Members()[i], now))
	}
	return v
}

func memberView(s *snapshot, r *route.Ring, m *route.Member, now time.Time) MemberView {
	sl := s.slot(r, m)
	v := MemberView{
		Ordinal: m.Ordinal, Pod: m.Pod, Address: m.Address, State: string(m.State), Since: m.Since,
		Joined: m.Joined(), Connections: sl.member.active.Load(),
	}
	if until, marked := s.Unreachable(m.Address, now); marked {
		v.UnreachableUntil = &until
	}
	return v
}

func (g *Gateway) serveLookup(w http.ResponseWriter, req *http.Request) {
	id, key := req.URL.Query().Get("ring"), req.URL.Query().Get("key")
	if id == "" || key == "" {
		writeText(w, http.StatusBadRequest, "stablering: /debug/lookup needs ?ring=NAMESPACE/NAME&key=KEY\n")
		return
	}
	s := g.snap.Load()
	r := s.table.Ring(id)
	if r == nil {
		writeText(w, http.StatusNotFound, "stablering: no StableRing "+id+" in the routing table\n")
		return
	}
	now := time.Now()
	d := r.DecideKey(key, now, s)
	v := LookupView{
		Ring: r.ID, Version: r.Version, Key: key, Action: d.Action.String(), Reason: d.Reason.String(),
		Status: d.Action.Status(), RetryAfterSeconds: d.RetryAfter.Seconds(),
	}
	if d.Owner != nil {
		owner := memberView(s, r, d.Owner, now)
		v.Owner = &owner
	}
	if d.Member != nil {
		member := memberView(s, r, d.Member, now)
		v.Member = &member
	}
	if d.Action != route.Proxy {
		v.Message = d.Message(max(int(math.Ceil(d.RetryAfter.Seconds())), 1))
	}
	writeJSON(w, http.StatusOK, v)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header()["Content-Type"] = []string{"application/json"}
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

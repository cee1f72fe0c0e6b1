package gateway

import (
	"errors"
	"net/http"
	"time"

	"github.com/stablering/stablering/gateway/route"
	"github.com/stablering/stablering/gateway/upstream"
)

// ServeHTTP routes and proxies one request. The routing decision is one atomic load of the
// current table and allocation-free; plain requests go through a ReverseProxy per member
// address, upgrades through a tunnel.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	r, ref := g.screen(r)
	if b := g.wrapBody(w, r); b != nil && ref.status == 0 {
		ref = b.checkFraming(r)
	}
	if ref.status != 0 {
		dropBody(r)
		g.metrics.countRequest(route.Decision{}, g.refuse(w, ref), isUpgrade(r))
		abortIfGone(ref.status)
		return
	}
	s := g.snap.Load()
	d := s.table.Decide(route.HTTPRequest{R: r}, start, s)
	g.metrics.routing.Observe(time.Since(start).Seconds())
	upgrade := isUpgrade(r)
	if d.Action != route.Proxy {
		dropBody(r)
		g.metrics.countRequest(d, g.answer(w, d), upgrade)
		return
	}
	sl := s.slot(d.Ring, d.Member)
	if upgrade {
		g.serveUpgrade(w, r, s, d, sl)
		return
	}
	g.proxy(w, r, s, d, sl)
}

// abortIfGone ends a request whose client went away (code 499) without an answer: net/http
// would send 200 with an empty body for a handler that wrote nothing. http.ErrAbortHandler is
// net/http's way to close the connection without writing; the server recovers it silently.
func abortIfGone(code int) {
	if code == statusClientClosed {
		panic(http.ErrAbortHandler)
	}
}

// proxy forwards a plain HTTP request to the decided member. It counts the request even
// when ReverseProxy aborts a response that failed half-way (panic http.ErrAbortHandler).
func (g *Gateway) proxy(w http.ResponseWriter, r *http.Request, s *snapshot, d route.Decision, sl slot) {
	rw := g.writers.Get().(*responseWriter)
	rw.reset(w, g.opts.SendTimeout)
	defer g.finishProxy(rw, d)
	g.setMemberHeader(w.Header(), sl)
	sl.target.proxy.ServeHTTP(rw, r)
	if rw.err != nil && rw.code == 0 {
		rw.code = g.proxyFailed(w, r, s, d, sl, rw.err)
	}
	rw.finish()
	abortIfGone(rw.code)
}

// finishProxy counts a proxied request and returns its writer to the pool.
func (g *Gateway) finishProxy(rw *responseWriter, d route.Decision) {
	g.metrics.countRequest(d, rw.code, false)
	rw.reset(nil, 0)
	g.writers.Put(rw)
}

// proxyFailed answers a request whose member could not be reached or did not answer, and
// returns the status code written. A failed dial marks the member unreachable and the request
// gets the ring's answer for an unreachable member, never a silent move to another member.
func (g *Gateway) proxyFailed(w http.ResponseWriter, r *http.Request, s *snapshot, d route.Decision, sl slot,
	err error) int {
	if b := bodyOf(r); b != nil && b.failed() != nil {
		return g.refuse(w, b.refusal())
	}
	dropBody(r)
	if r.Context().Err() != nil {
		return statusClientClosed
	}
	return g.memberFailed(w, s, d, sl, err)
}

// memberFailed answers a request whose member could not be reached or did not answer, on
// either serving path, and returns the status code written.
func (g *Gateway) memberFailed(w http.ResponseWriter, s *snapshot, d route.Decision, sl slot, err error) int {
	var de *upstream.DialError
	var le *upstream.LocalError
	switch {
	case errors.As(err, &le):
		return g.answerLocalFailure(w, d, le)
	case errors.As(err, &de):
		now := time.Now()
		if sl.target.MarkUnreachable(now, g.opts.FailTimeout) {
			g.log.Info("member unreachable; marked for the fail timeout", "ring", d.Ring.ID, "member", d.Member.Label,
				"address", d.Member.Address, "failTimeout", g.opts.FailTimeout.String(), "error", err.Error())
		}
		return g.answer(w, g.afterDialFailure(s, d, now))
	case upstream.IsTimeout(err):
		return g.answerStatus(w, d, http.StatusGatewayTimeout, "did not answer in time")
	default:
		g.log.V(1).Info("member failed", "ring", d.Ring.ID, "member", d.Member.Label, "error", err.Error())
		return g.answerStatus(w, d, http.StatusBadGateway, "did not answer")
	}
}

// afterDialFailure is the answer to a request whose member just failed to accept a
// connection: what the ring decides now that the member is marked (a hold under the Hold
// policy), except that a request is never moved to another member after the fact.
func (g *Gateway) afterDialFailure(s *snapshot, d route.Decision, now time.Time) route.Decision {
	again := d.Ring.DecideKey(d.Key, now, s)
	if again.Action != route.Proxy {
		return again
	}
	d.Action, d.Reason, d.RetryAfter = route.Hold, route.ReasonUnreachable, time.Second
	return d
}

// statusClientClosed is recorded (never sent) when the client went away first, as nginx does.
const statusClientClosed = 499

package gateway

import (
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/stablering/stablering/gateway/pace"
	"github.com/stablering/stablering/gateway/route"
	"github.com/stablering/stablering/gateway/upstream"
)

// Shared header values of the gateway's own answers; net/http only reads them.
var (
	textPlain = []string{"text/plain; charset=utf-8"}
	nosniff   = []string{"nosniff"}
	noStore   = []string{"no-store"}
)

// answer writes the gateway's own answer for d (any action but Proxy): its status, a
// jittered Retry-After on 503, the member header, and a one-line body naming the ring, member
// and reason. It counts held answers and returns the status.
func (g *Gateway) answer(w http.ResponseWriter, d route.Decision) int {
	status := d.Action.Status()
	h := w.Header()
	setTextHeaders(h)
	secs := 0
	if status == http.StatusServiceUnavailable {
		secs = pace.RetryAfter(d.RetryAfter, g.opts.MaxRetryAfter, rand.IntN)
		h["Retry-After"] = []string{strconv.Itoa(secs)}
		g.metrics.countHeld(d)
	}
	if d.Member != nil && g.memberHeader != "" {
		h[g.memberHeader] = []string{d.Member.ID}
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, d.Message(secs))
	return status
}

// answerStatus writes a 502 or 504 for a member that failed after it accepted the
// connection; what says how.
func (g *Gateway) answerStatus(w http.ResponseWriter, d route.Decision, status int, what string) int {
	setTextHeaders(w.Header())
	if g.memberHeader != "" {
		w.Header()[g.memberHeader] = []string{d.Member.ID}
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, d.MemberFailed(what))
	return status
}

// localRetry is the Retry-After of answers to requests the gateway could not forward for lack
// of its own resources.
const localRetry = time.Second

// answerLocalFailure answers 503 for a request the gateway could not forward because it ran
// out of its own resources (descriptors, memory, ports); the member is not marked.
func (g *Gateway) answerLocalFailure(w http.ResponseWriter, d route.Decision, le *upstream.LocalError) int {
	h := w.Header()
	setTextHeaders(h)
	secs := pace.RetryAfter(localRetry, g.opts.MaxRetryAfter, rand.IntN)
	h["Retry-After"] = []string{strconv.Itoa(secs)}
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = io.WriteString(w, d.LocalFailure(le.Errno, secs))
	return http.StatusServiceUnavailable
}

// refuse answers a request the gateway will not route (see screen and clientBody) with
// ref.status and a one-line reason, and returns the status. A client that went away gets
// nothing (499).
func (g *Gateway) refuse(w http.ResponseWriter, ref refusal) int {
	if ref.status == statusClientClosed {
		return ref.status
	}
	setTextHeaders(w.Header())
	if ref.close {
		w.Header()["Connection"] = connectionClose
	}
	w.WriteHeader(ref.status)
	_, _ = io.WriteString(w, "stablering: "+ref.why+"\n")
	return ref.status
}

func setTextHeaders(h http.Header) {
	h["Content-Type"] = textPlain
	h["X-Content-Type-Options"] = nosniff
	h["Cache-Control"] = noStore
}

// setMemberHeader names the member that serves a proxied request.
func (g *Gateway) setMemberHeader(h http.Header, sl slot) {
	if g.memberHeader != "" {
		h[g.memberHeader] = sl.member.header
	}
}

// rateLimited is the answer to an upgrade refused by admission control.
func rateLimited(d route.Decision) route.Decision {
	d.Action, d.Reason, d.RetryAfter = route.Hold, route.ReasonRateLimited, route.RateLimitRetry
	return d
}

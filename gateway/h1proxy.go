package gateway

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/stablering/stablering/gateway/h1"
	"github.com/stablering/stablering/gateway/route"
	"github.com/stablering/stablering/gateway/upstream"
)

// This file exchanges a request of the gateway's own path with its member: the request head
// goes as it came, but for hop-by-hop fields and the forwarding fields; the answer's head is
// parsed in the member connection's buffer and relayed with its hop-by-hop fields cut and the
// member header added; its body is relayed as it arrives, by its framing, chunks and
// trailers as they are.

// memberSlice bounds each wait for a member's answer head; between two, the gateway checks
// that the client is still there, so that a request whose client left ends (499) without a
// goroutine watching the client.
const memberSlice = 250 * time.Millisecond

// maxOut bounds what the relay gathers before it writes to the client.
const maxOut = 16 << 10

var (
	errClientGone    = errors.New("the client went away")
	errUnexpected101 = errors.New("101 Switching Protocols to a request that did not ask for it")
	errTooMany1xx    = errors.New("too many 1xx informational responses")
)

// max1xx bounds the informational answers before the final one, as http.Transport does.
const max1xx = 5

// proxy exchanges the request with the member of d and relays the answer. It returns the code
// to count and whether the client connection may carry another request.
func (hc *h1Conn) proxy(s *snapshot, d route.Decision, sl slot, keep bool) (int, bool) {
	up := sl.target.Upstream
	hc.memberHead()
	ctx := context.Background()
	mc, reused, err := up.Take(ctx)
	for {
		if err != nil {
			return hc.failed(s, d, sl, err, keep)
		}
		var got bool
		if got, err = hc.exchange(mc, sl, hc.g.opts.MemberReadTimeout); err == nil {
			break
		}
		mc.Close()
		switch {
		case errors.Is(err, errClientGone):
			return statusClientClosed, false
		case reused && !got && !upstream.IsTimeout(err):
			// The member closed the idle connection, or sent bytes on it, before it saw the
			// request (upstream's errNotClean): a new one.
			reused = false
			mc, err = up.Redial(ctx)
			continue
		case got && !upstream.IsTimeout(err):
			hc.g.log.V(1).Info("member failed", "ring", d.Ring.ID, "member", d.Member.Label, "error", err.Error())
		}
		return hc.failed(s, d, sl, err, keep)
	}
	keep = keep && hc.resp.Framing != h1.UntilClose
	code := hc.resp.Code
	memberOK, clientOK := hc.relay(mc, sl, keep)
	if memberOK && hc.resp.KeepAlive {
		up.Put(mc)
	} else {
		mc.Close()
	}
	return code, keep && clientOK
}

// failed answers a request whose member could not be reached or did not answer.
func (hc *h1Conn) failed(s *snapshot, d route.Decision, sl slot, err error, keep bool) (int, bool) {
	w := hc.answerTo(keep)
	code := hc.g.memberFailed(w, s, d, sl, err)
	return code, hc.flush(w) && keep
}

// memberHead writes the request head for the member into hc.head (see appendMemberHead).
func (hc *h1Conn) memberHead() {
	hc.head = appendMemberHead(hc.head[:0], &hc.req, hc.remote, hc.g.opts.TrustForwarded)
}

// exchange sends the request head on mc and reads the answer's head into hc.resp, relaying
// informational answers but 100 Continue to the client; 101 is final for an upgrade, and an
// error otherwise. got says whether any byte of an answer arrived. The wait for the head is
// bounded by timeout, in slices between which a client that went away ends it
// (errClientGone).
func (hc *h1Conn) exchange(mc *upstream.Conn, sl slot, timeout time.Duration) (got bool, err error) {
	g := hc.g
	start := g.clock.Now()
	mc.ReadBy.Arm(g.clock, min(memberSlice, timeout), mc.SetReadDeadline)
	n, err := mc.WriteThenWait(hc.head)
	if err != nil && !upstream.IsTimeout(err) {
		return false, err
	}
	if n < len(hc.head) {
		mc.WriteBy.Arm(g.clock, g.opts.SendTimeout, mc.SetWriteDeadline)
		if _, err := mc.Write(hc.head[n:]); err != nil {
			return false, err
		}
	}
	br := mc.Reader()
	head := hc.req.Method() == "HEAD"
	for n1xx := 0; ; {
		buf, _ := br.Peek(br.Buffered())
		done, err := h1.ParseResponse(buf, head, &hc.resp)
		switch {
		case err != nil:
			return true, err
		case done && (hc.resp.Code >= 200 || hc.resp.Code == 101 && hc.req.Upgrade):
			return true, nil
		case done && hc.resp.Code == 101:
			return true, errUnexpected101
		case done:
			if n1xx++; n1xx > max1xx {
				return true, errTooMany1xx
			}
			if hc.resp.Code != 100 && !hc.write(hc.answerHead(sl, true, nil)) {
				return true, errClientGone
			}
			_, _ = br.Discard(hc.resp.Len)
			continue
		case br.Buffered() == br.Size():
			return true, h1.ErrHeadTooLarge
		}
		err = hc.await(mc, start, timeout)
		got = got || br.Buffered() > 0
		if err != nil {
			return got, err
		}
	}
}

// await reads more of the member's answer into its buffer. The wait is bounded by timeout
// from start (a time of the coarse clock), in slices between which a client that went away
// ends it (errClientGone).
func (hc *h1Conn) await(mc *upstream.Conn, start int64, timeout time.Duration) error {
	g := hc.g
	br := mc.Reader()
	for {
		mc.ReadBy.Arm(g.clock, min(memberSlice, timeout), mc.SetReadDeadline)
		_, err := br.Peek(br.Buffered() + 1)
		if err == nil || !upstream.IsTimeout(err) {
			return err
		}
		mc.ReadBy.Reset()
		if g.clock.Since(start) >= timeout {
			return err
		}
		if hc.gone() {
			return errClientGone
		}
	}
}

// answerHead writes the head of the answer in hc.resp for the client into hc.out and returns
// it (see appendAnswerHead).
func (hc *h1Conn) answerHead(sl slot, keep bool, upgrade []byte) []byte {
	hc.out = appendAnswerHead(hc.out[:0], &hc.resp, hc.g.memberHeader, sl, keep, upgrade)
	return hc.out
}

// relay writes the answer's head and relays its body as it arrives: what the member's buffer
// holds is gathered behind the head and written at once, and the body's later parts as they
// are read. Each read waits at most MemberReadTimeout, each write SendTimeout. memberOK says
// the answer was read to its end and nothing else; clientOK that it was all written.
func (hc *h1Conn) relay(mc *upstream.Conn, sl slot, keep bool) (memberOK, clientOK bool) {
	g := hc.g
	resp := &hc.resp
	out := hc.answerHead(sl, keep, nil)
	br := mc.Reader()
	_, _ = br.Discard(resp.Len)
	body := newBodyFramer(resp)
	for !body.ended() {
		if avail := br.Buffered(); avail > 0 {
			p, _ := br.Peek(avail)
			n, done, err := body.feed(p)
			if err != nil {
				hc.write(out)
				return false, false
			}
			switch {
			case len(out)+n <= maxOut:
				out = append(out, p[:n]...)
			case !hc.write(out) || !hc.write(p[:n]):
				return false, false
			default:
				out = out[:0]
			}
			_, _ = br.Discard(n)
			if done {
				break
			}
			continue
		}
		if len(out) > 0 {
			if !hc.write(out) {
				return false, false
			}
			out = out[:0]
		}
		if err := hc.await(mc, g.clock.Now(), g.opts.MemberReadTimeout); err != nil {
			return false, resp.Framing == h1.UntilClose && errors.Is(err, io.EOF)
		}
	}
	hc.out = out
	return true, len(out) == 0 || hc.write(out)
}

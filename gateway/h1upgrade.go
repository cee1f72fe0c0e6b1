package gateway

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/stablering/stablering/gateway/h1"
	"github.com/stablering/stablering/gateway/resume"
	"github.com/stablering/stablering/gateway/route"
	"github.com/stablering/stablering/gateway/tunnel"
	"github.com/stablering/stablering/gateway/upstream"
)

// upgrade serves a WebSocket handshake on the gateway's own path: it admits the connection,
// sends the handshake to the member on a connection of its own, and on 101 writes the
// member's answer to the client and splices the two connections (the client connection leaves
// this path: hc.switched). A member's refusal is relayed as any answer. It returns the code
// to count and whether the client connection may carry another request.
func (hc *h1Conn) upgrade(s *snapshot, d route.Decision, sl slot, keep bool) (int, bool) {
	g := hc.g
	if d.Ring.Resume != nil && hc.forgesResume() {
		w := hc.answerTo(keep)
		code := g.answerStatus(w, d, http.StatusBadRequest, "resume header fields are the gateway's")
		return code, hc.flush(w) && keep
	}
	if !sl.member.bucket.Allow(time.Now()) {
		w := hc.answerTo(keep)
		code := g.answer(w, rateLimited(d))
		return code, hc.flush(w) && keep
	}
	br := g.newReader(nil)
	defer g.putReader(br)
	mc, err := sl.target.DialUpgrade(context.Background(), br)
	if err != nil {
		return hc.failed(s, d, sl, err, keep)
	}
	hc.memberHead()
	var offer *resumeOffer
	if d.Ring.Resume != nil {
		offer = hc.offerResume(d.Ring)
	}
	if _, err := hc.exchange(mc, sl, g.opts.UpgradeTimeout); err != nil {
		mc.Close()
		if errors.Is(err, errClientGone) {
			return statusClientClosed, false
		}
		return hc.failed(s, d, sl, err, keep)
	}
	resp := &hc.resp
	switch {
	case resp.Code != 101:
		keep = keep && resp.Framing != h1.UntilClose
		_, clientOK := hc.relay(mc, sl, keep)
		mc.Close()
		return resp.Code, keep && clientOK
	case !resp.SwitchesTo(hc.req.Bytes(hc.req.UpgradeValue)):
		mc.Close()
		w := hc.answerTo(keep)
		code := g.answerStatus(w, d, http.StatusBadGateway, "switched to another protocol than requested")
		return code, hc.flush(w) && keep
	}
	var hs resume.Handshake
	var e *early
	if offer != nil {
		raw, _ := mc.Reader().Peek(resp.Len)
		if hs = parseHandshake(raw); hs.Resumable() {
			e = &early{}
		}
	}
	if !hc.switchTo(mc, sl, e) {
		mc.Close()
		return statusClientClosed, false
	}
	if e != nil {
		g.startTunnel(g.resumeTunnel(offer, hs, d, hc.c, mc.NetConn(), *e), s, d, sl)
	} else {
		opts := tunnel.Options{WebSocket: true, Pool: g.pool, CloseGrace: g.opts.CloseGrace, SendTimeout: g.opts.SendTimeout}
		g.startTunnel(tunnel.New(hc.c, mc.NetConn(), opts), s, d, sl)
	}
	hc.switched = true
	return 101, false
}

// forgesResume reports whether the request carries fields of the resume protocol, which only
// a gateway may send.
func (hc *h1Conn) forgesResume() bool {
	r := &hc.req
	for i := range r.Fields {
		if resume.ForgedField(string(r.Bytes(r.Fields[i].Name))) {
			return true
		}
	}
	return false
}

// offerResume adds the resume offer to the member head, and returns the offer with a copy of
// the head.
func (hc *h1Conn) offerResume(ring *route.Ring) *resumeOffer {
	h := hc.head[:len(hc.head)-2] // before the final CRLF
	h = append(h, resume.HeaderResumable+": 1\r\n\r\n"...)
	hc.head = h
	return &resumeOffer{ring: ring, head: bytes.Clone(h)}
}

// switchTo writes the member's 101 answer to the client, with what the member sent after it,
// passes on what the client sent after its handshake, and clears both connections' deadlines
// for the tunnel. When e is not nil it keeps what either side sent in e instead.
func (hc *h1Conn) switchTo(mc *upstream.Conn, sl slot, e *early) bool {
	resp := &hc.resp
	out := hc.answerHead(sl, false, resp.Bytes(resp.Upgrade))
	br := mc.Reader()
	_, _ = br.Discard(resp.Len)
	if e != nil {
		e.member = buffered(br)
		e.client = bytes.Clone(hc.buf[hc.req.Len:hc.n])
		hc.n = hc.req.Len
	} else if n := br.Buffered(); n > 0 {
		p, _ := br.Peek(n)
		out = append(out, p...)
	}
	if !hc.write(out) {
		return false
	}
	if early := hc.buf[hc.req.Len:hc.n]; len(early) > 0 {
		mc.WriteBy.Arm(hc.g.clock, hc.g.opts.SendTimeout, mc.SetWriteDeadline)
		if _, err := mc.Write(early); err != nil {
			return false
		}
		hc.n = hc.req.Len
	}
	var never time.Time
	return hc.c.SetDeadline(never) == nil && mc.NetConn().SetDeadline(never) == nil
}

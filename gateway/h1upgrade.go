package gateway

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/stablering/stablering/gateway/h1"
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
	if !sl.member.bucket.Allow(time.Now()) {
		w := hc.answerTo(keep)
		code := g.answer(w, rateLimited(d))
		return code, w.flush() && keep
	}
	br := g.newReader(nil)
	defer g.putReader(br)
	mc, err := sl.target.DialUpgrade(context.Background(), br)
	if err != nil {
		return hc.failed(s, d, sl, err, keep)
	}
	hc.memberHead()
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
		return code, w.flush() && keep
	}
	if !hc.switchTo(mc, sl) {
		mc.Close()
		return statusClientClosed, false
	}
	opts := tunnel.Options{WebSocket: true, Pool: g.pool, CloseGrace: g.opts.CloseGrace, SendTimeout: g.opts.SendTimeout}
	g.startTunnel(tunnel.New(hc.c, mc.NetConn(), opts), s, d, sl)
	hc.switched = true
	return 101, false
}

// switchTo writes the member's 101 answer to the client, with what the member sent after it,
// passes on what the client sent after its handshake, and clears both connections' deadlines
// for the tunnel.
func (hc *h1Conn) switchTo(mc *upstream.Conn, sl slot) bool {
	resp := &hc.resp
	out := hc.answerHead(sl, false, resp.Bytes(resp.Upgrade))
	br := mc.Reader()
	_, _ = br.Discard(resp.Len)
	if n := br.Buffered(); n > 0 {
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

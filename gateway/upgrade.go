package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/stablering/stablering/gateway/resume"
	"github.com/stablering/stablering/gateway/route"
	"github.com/stablering/stablering/gateway/splice"
	"github.com/stablering/stablering/gateway/tunnel"
)

// serveUpgrade proxies an upgrade request (a WebSocket handshake or another protocol switch):
// it admits the connection, performs the handshake with the member, hijacks the client
// connection and splices the two until either side ends or the gateway closes the tunnel. The
// tunnel runs by itself, so the handler returns and net/http frees the request's buffers: an
// idle tunnel holds little more than its two connections, and on Linux no goroutine.
//
// Upgrades are spliced here rather than by ReverseProxy so the gateway owns both connections:
// it tracks WebSocket frames from the member and can end a connection with a Close frame at a
// frame boundary (drain, reunion, shutdown), and it can hold an idle connection without
// holding buffers.
func (g *Gateway) serveUpgrade(w http.ResponseWriter, r *http.Request, s *snapshot, d route.Decision, sl slot) {
	code, tun := g.openTunnel(w, r, s, d, sl)
	g.metrics.countRequest(d, code, true)
	if tun == nil {
		abortIfGone(code)
		return
	}
	g.startTunnel(tun, s, d, sl)
}

// startTunnel registers and starts the tunnel of an upgrade that d routed to sl.
func (g *Gateway) startTunnel(tun spliced, s *snapshot, d route.Decision, sl slot) {
	c := &splice.Conn{
		Tunnel:  tun,
		Ring:    d.Ring.ID,
		Key:     strings.Clone(d.Key), // do not pin the request
		Ordinal: d.Member.Ordinal,
		Label:   sl.member.label,
	}
	sl.member.active.Add(1)
	g.conns.Add(c, d.Member != d.Owner, s.table)
	m := sl.member
	tun.Start(func() { g.tunnelEnded(c, m) })
}

// openTunnel returns the status the client got and, for 101, the tunnel to run.
func (g *Gateway) openTunnel(w http.ResponseWriter, r *http.Request, s *snapshot, d route.Decision,
	sl slot) (int, spliced) {
	offer := g.offerResume(r, d)
	if offer != nil && resume.Forged(r.Header) {
		dropBody(r)
		return g.answerStatus(w, d, http.StatusBadRequest, "resume header fields are the gateway's"), nil
	}
	if !sl.member.bucket.Allow(time.Now()) {
		dropBody(r)
		return g.answer(w, rateLimited(d)), nil
	}
	backend, err := g.dialer.Dial(r.Context(), "tcp", d.Member.Address)
	if err != nil {
		return g.proxyFailed(w, r, s, d, sl, err), nil
	}
	br := g.newReader(backend)
	defer g.putReader(br)
	resp, err := g.handshake(backend, br, r, offer)
	switch {
	case err != nil:
		_ = backend.Close()
		return g.proxyFailed(w, r, s, d, sl, err), nil
	case resp.StatusCode != http.StatusSwitchingProtocols:
		defer func() { _ = backend.Close() }()
		return g.relay(w, resp, sl), nil
	case !switchedTo(resp, r.Header.Get("Upgrade")):
		_ = backend.Close()
		return g.answerStatus(w, d, http.StatusBadGateway, "switched to another protocol than requested"), nil
	}
	var hs resume.Handshake
	var e *early
	if offer != nil {
		if hs = resume.NewHandshake(resp.Header); hs.Resumable() {
			e = &early{}
		}
	}
	client, err := g.hijack(w, resp, br, backend, sl, e)
	if err != nil {
		_ = backend.Close()
		g.log.V(1).Info("upgrade failed after the member accepted it", "ring", d.Ring.ID,
			"member", d.Member.Label, "error", err.Error())
		return statusClientClosed, nil
	}
	if e != nil {
		return http.StatusSwitchingProtocols, g.resumeTunnel(offer, hs, d, client, backend, *e)
	}
	opts := tunnel.Options{WebSocket: isWebSocket(r), Pool: g.pool, CloseGrace: g.opts.CloseGrace,
		SendTimeout: g.opts.SendTimeout}
	return http.StatusSwitchingProtocols, tunnel.New(client, backend, opts)
}

// offerResume returns the resume offer of a WebSocket handshake without a body on a ring with
// resume on, nil for any other request.
func (g *Gateway) offerResume(r *http.Request, d route.Decision) *resumeOffer {
	if d.Ring.Resume == nil || !isWebSocket(r) || r.ContentLength != 0 {
		return nil
	}
	return &resumeOffer{ring: d.Ring}
}

// handshake sends the upgrade request to the member and reads its answer. With a resume offer
// the request says so to the member, and the offer keeps the head as sent.
func (g *Gateway) handshake(backend net.Conn, br *bufio.Reader, r *http.Request, offer *resumeOffer) (*http.Response, error) {
	_ = backend.SetDeadline(time.Now().Add(g.opts.UpgradeTimeout))
	out := &http.Request{
		Method:     r.Method,
		URL:        &url.URL{Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Host:       r.Host,
		Header:     upgradeHeader(r.Header, r.Header.Get("Upgrade")),
	}
	if r.ContentLength != 0 {
		out.Body, out.ContentLength = r.Body, r.ContentLength
	}
	setForwarded(out.Header, r, g.opts.TrustForwarded)
	if out.Header["User-Agent"] == nil {
		out.Header["User-Agent"] = []string{""} // no Go default
	}
	if offer == nil {
		if err := out.Write(backend); err != nil {
			return nil, err
		}
		return http.ReadResponse(br, out)
	}
	out.Header.Set(resume.HeaderResumable, "1")
	var head bytes.Buffer
	_ = out.Write(&head)
	offer.head = head.Bytes()
	if _, err := backend.Write(offer.head); err != nil {
		return nil, err
	}
	return http.ReadResponse(br, out)
}

// switchedTo reports whether resp switches to protocol.
func switchedTo(resp *http.Response, protocol string) bool {
	return strings.EqualFold(resp.Header.Get("Upgrade"), protocol) &&
		httpguts.HeaderValuesContainsToken(resp.Header["Connection"], "upgrade")
}

// relay passes a member's refusal of an upgrade (any status but 101) to the client.
func (g *Gateway) relay(w http.ResponseWriter, resp *http.Response, sl slot) int {
	defer func() { _ = resp.Body.Close() }()
	removeHopByHop(resp.Header)
	h := w.Header()
	for k, vv := range resp.Header {
		h[k] = append(h[k], vv...)
	}
	g.setMemberHeader(h, sl)
	w.WriteHeader(resp.StatusCode)
	buf := g.pool.Get()
	defer g.pool.Put(buf)
	var rw responseWriter
	rw.reset(w, g.opts.SendTimeout)
	_, _ = io.CopyBuffer(&rw, resp.Body, buf)
	return resp.StatusCode
}

// hijack takes over the client connection, writes the member's 101 answer and passes on the
// bytes either side sent after its handshake, or keeps them in e when it is not nil.
func (g *Gateway) hijack(w http.ResponseWriter, resp *http.Response, br *bufio.Reader, backend net.Conn,
	sl slot, e *early) (net.Conn, error) {
	client, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, err
	}
	_ = client.SetDeadline(time.Now().Add(g.opts.UpgradeTimeout))
	h := upgradeHeader(resp.Header, resp.Header.Get("Upgrade"))
	g.setMemberHeader(h, sl)
	_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	_ = h.Write(brw)
	_, _ = brw.WriteString("\r\n")
	if e != nil {
		e.member, e.client = buffered(br), buffered(brw.Reader)
		err = brw.Flush()
	} else {
		err = errors.Join(passBuffered(br, brw.Writer), brw.Flush(), passBuffered(brw.Reader, backend))
	}
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	_ = client.SetDeadline(time.Time{})
	_ = backend.SetDeadline(time.Time{})
	return client, nil
}

// passBuffered writes what r has buffered to w.
func passBuffered(r *bufio.Reader, w io.Writer) error {
	n := r.Buffered()
	if n == 0 {
		return nil
	}
	b, _ := r.Peek(n)
	_, err := w.Write(b)
	return err
}

// buffered is a copy of what r has buffered.
func buffered(r *bufio.Reader) []byte {
	b, _ := r.Peek(r.Buffered())
	return bytes.Clone(b)
}

// newReader returns a pooled bufio.Reader on c.
func (g *Gateway) newReader(c net.Conn) *bufio.Reader {
	br := g.readers.Get().(*bufio.Reader)
	br.Reset(c)
	return br
}

// putReader returns br to the pool, without its connection.
func (g *Gateway) putReader(br *bufio.Reader) {
	br.Reset(nil)
	g.readers.Put(br)
}

// tunnelEnded forgets a registered tunnel of member m once it has ended. The tunnel calls it
// on a goroutine of its own, never inside Close or Kill.
func (g *Gateway) tunnelEnded(c *splice.Conn, m *member) {
	g.conns.Remove(c)
	m.active.Add(-1)
}

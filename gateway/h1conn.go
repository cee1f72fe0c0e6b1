package gateway

import (
	"errors"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stablering/stablering/gateway/coarse"
	"github.com/stablering/stablering/gateway/h1"
	"github.com/stablering/stablering/gateway/internal/accept"
	"github.com/stablering/stablering/gateway/peek"
	"github.com/stablering/stablering/gateway/route"
)

// h1BufferSize is the read buffer of a client connection on the gateway's own path: a request
// head that does not fit goes to net/http's server (nginx's client_header_buffer_size is 1
// KiB, and its large buffers 8 KiB).
const h1BufferSize = 4 << 10

// h1Conn is a client connection served by the gateway's own HTTP/1.1 path: one goroutine
// reads a request head into the connection's buffer, routes it, and exchanges it with the
// member on a pooled connection, then reads the next. It sets no deadline and reads no clock
// per request but the routing histogram's: deadlines are armed lazily from a coarse clock.
type h1Conn struct {
	s  *h1Server
	g  *Gateway
	c  net.Conn
	rc syscall.RawConn // for client-gone checks; nil if none
	h1Buffers
	remote string // the client's IP, for X-Forwarded-For

	rd, wd   coarse.Lazy // the read and write deadlines
	switched bool        // the connection was upgraded and belongs to a tunnel now
	idle     atomic.Bool // waiting for the next request
}

// newH1Conn returns the state of a new connection: an ended connection's, with its buffers,
// or a new one. A connection that opens for one WebSocket handshake then leaves nothing
// behind for the collector.
func newH1Conn(s *h1Server, c net.Conn) *h1Conn {
	hc, _ := s.free.Get().(*h1Conn)
	if hc == nil {
		hc = &h1Conn{h1Buffers: newH1Buffers(s.g.opts.MaxHeaderBytes)}
	}
	hc.s, hc.g, hc.c = s, s.g, c
	hc.rc = peek.RawConn(c)
	hc.remote = remoteHost(c.RemoteAddr())
	return hc
}

// remoteHost is the IP address of a client's address as X-Forwarded-For gives it (what
// net.SplitHostPort leaves of the address's text), "" if it has none. A TCP address is
// formatted directly, without its port.
func remoteHost(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok && len(ta.IP) > 0 {
		if ta.Zone != "" {
			return ta.IP.String() + "%" + ta.Zone
		}
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return ""
	}
	return host
}

// serve serves the connection's requests until it ends or is handed off.
func (hc *h1Conn) serve() {
	handedOff := false
	defer func() {
		if !handedOff {
			_ = hc.c.Close()
		}
		hc.s.forget(hc)
		hc.s.release(hc)
	}()
	for first := true; ; first = false {
		if hc.n == 0 {
			switch hc.readNowOrLend() {
			case lent:
				handedOff = true
				return
			case ended:
				return
			case readOn:
			}
		}
		v, ok := hc.readHead(first)
		if !ok {
			return
		}
		switch v {
		case h1.Simple:
			if !hc.req.Upgrade && hc.s.lend(hc) {
				handedOff = true // the loop serves the request, and the connection's next ones
				return
			}
			keep := hc.serveRequest()
			if hc.switched {
				handedOff = true
				return
			}
			hc.n = copy(hc.buf, hc.buf[hc.req.Len:hc.n])
			if !keep {
				return
			}
		case h1.Other:
			handedOff = hc.handOff()
			return
		case h1.Incomplete: // readHead does not return it
			return
		}
	}
}

// readNowOrLend reads what there is of the next request without waiting, where the socket
// is bare (package accept) and an event loop runs; if nothing is there yet, the connection
// is lent to the loop, which waits for the request without a goroutine.
func (hc *h1Conn) readNowOrLend() lendOutcome {
	r, ok := hc.c.(nowReader)
	if !ok || len(hc.s.loops) == 0 || hc.s.closing.Load() {
		return readOn
	}
	m, err := r.ReadNow(hc.buf)
	switch {
	case m > 0:
		hc.n = m
		return readOn
	case errors.Is(err, syscall.EAGAIN):
		if hc.s.lend(hc) {
			return lent
		}
		return readOn
	case errors.Is(err, accept.ErrNotBare):
		return readOn
	}
	return ended
}

// lendOutcome is what readNowOrLend did.
type lendOutcome uint8

const (
	readOn lendOutcome = iota // the goroutine goes on with the connection: bytes read, or it waits
	lent                      // a loop has the connection now
	ended                     // the connection ended
)

// release keeps the state of an ended connection, with its buffers, for a new one.
func (s *h1Server) release(hc *h1Conn) {
	*hc = h1Conn{h1Buffers: hc.emptied()}
	s.free.Put(hc)
}

// readHead reads until the buffer holds a complete head, and parses it. The first request of
// a connection must arrive within ReadHeaderTimeout; later ones may wait IdleTimeout for their
// first byte, then ReadHeaderTimeout for the rest of the head. A connection that ends or
// times out is closed without an answer, as net/http's server does: ok is false then, and the
// verdict is Simple or Other otherwise.
func (hc *h1Conn) readHead(first bool) (v h1.Verdict, ok bool) {
	g := hc.g
	if hc.n > 0 {
		if v := hc.parse(); v != h1.Incomplete {
			return v, true
		}
		hc.readBy(g.opts.ReadHeaderTimeout)
	} else {
		wait := g.opts.IdleTimeout
		if first {
			wait = g.opts.ReadHeaderTimeout
		}
		hc.idle.Store(true)
		if hc.s.closing.Load() {
			return 0, false
		}
		hc.readBy(wait)
		m, _ := hc.c.Read(hc.buf)
		hc.idle.Store(false)
		if m == 0 {
			return 0, false
		}
		hc.n = m
		if v := hc.parse(); v != h1.Incomplete {
			return v, true
		}
		if !first {
			hc.readBy(g.opts.ReadHeaderTimeout)
		}
	}
	for hc.n < len(hc.buf) {
		m, err := hc.c.Read(hc.buf[hc.n:])
		hc.n += m
		if m > 0 {
			if v := hc.parse(); v != h1.Incomplete {
				return v, true
			}
		}
		if err != nil {
			return 0, false
		}
	}
	return h1.Other, true // a head larger than the buffer
}

func (hc *h1Conn) parse() h1.Verdict {
	return h1.ParseRequest(hc.buf[:hc.n], hc.g.opts.MaxHeaders, &hc.req)
}

// handOff gives the connection, with the bytes read, to net/http's server; false if the
// server is closed.
func (hc *h1Conn) handOff() bool {
	hc.g.metrics.handoffs.Inc()
	read := make([]byte, hc.n)
	copy(read, hc.buf[:hc.n])
	return hc.s.handoff.give(&replayConn{Conn: hc.c, read: read})
}

// closeIfIdle ends the wait of a connection that waits for a request (shutdown): its read
// deadline passes at once.
func (hc *h1Conn) closeIfIdle() {
	if hc.idle.Load() {
		_ = hc.c.SetReadDeadline(time.Now())
	}
}

// serveRequest routes and serves the parsed request, and reports whether the connection may
// carry another.
func (hc *h1Conn) serveRequest() bool {
	g := hc.g
	start := time.Now()
	s := g.snap.Load()
	d := s.table.Decide(&hc.req, start, s)
	g.metrics.routing.Observe(time.Since(start).Seconds())
	keep := !hc.req.Close && !hc.s.closing.Load()
	var code int
	switch {
	case d.Action != route.Proxy:
		w := hc.answerTo(keep)
		code = g.answer(w, d)
		keep = hc.flush(w) && keep
	case hc.req.Upgrade:
		code, keep = hc.upgrade(s, d, s.slot(d.Ring, d.Member), keep)
	default:
		code, keep = hc.proxy(s, d, s.slot(d.Ring, d.Member), keep)
	}
	g.metrics.countRequest(d, code, hc.req.Upgrade)
	return keep
}

// gone reports whether the client closed its side of the connection or reset it: a peek
// finds an end of stream or an error. Bytes to read (a pipelined request) are not an end.
func (hc *h1Conn) gone() bool {
	if hc.rc == nil {
		return false
	}
	ended := false
	err := hc.rc.Control(func(fd uintptr) { ended = peek.Ended(fd) })
	return err != nil || ended
}

// readBy arms the read deadline for a wait of d; writeBy the write deadline.
func (hc *h1Conn) readBy(d time.Duration)  { hc.rd.Arm(hc.g.clock, d, hc.setReadDeadline) }
func (hc *h1Conn) writeBy(d time.Duration) { hc.wd.Arm(hc.g.clock, d, hc.setWriteDeadline) }

func (hc *h1Conn) setReadDeadline(t time.Time)  { _ = hc.c.SetReadDeadline(t) }
func (hc *h1Conn) setWriteDeadline(t time.Time) { _ = hc.c.SetWriteDeadline(t) }

// write writes p to the client within SendTimeout.
func (hc *h1Conn) write(p []byte) bool {
	hc.writeBy(hc.g.opts.SendTimeout)
	_, err := hc.c.Write(p)
	return err == nil
}

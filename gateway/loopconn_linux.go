package gateway

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/stablering/stablering/gateway/h1"
	"github.com/stablering/stablering/gateway/internal/sockopt"
	"github.com/stablering/stablering/gateway/peek"
	"github.com/stablering/stablering/gateway/route"
	"github.com/stablering/stablering/gateway/upstream"
)

// loopConn is a client connection on an HTTP event loop (loop_linux.go). Everything it does
// happens on the loop, one step per readiness report: each step goes as far as the sockets
// allow and returns, leaving the state the next report picks up.
type loopConn struct {
	l      *h1Loop
	c      net.Conn // the accepted connection, whose socket the loop borrows
	fd     int
	key    uint64
	remote string // the client's IP, for X-Forwarded-For
	early  []byte // a request its goroutine read before it lent the connection

	readable, writable, hup bool
	closed                  bool
	served                  int // requests answered, for advance's turns

	state    loopState
	deadline int64 // of the current wait, in the coarse clock's time; 0 for none
	x        *exchange
}

// loopState is where a loop connection's request stands.
type loopState uint8

const (
	awaitingRequest loopState = iota // reading a request head, or waiting for one
	connecting                       // a new member connection is being made
	sending                          // the request head is being written to the member
	awaitingAnswer                   // the member's answer head is being read
	relaying                         // the answer's body is being relayed
	finishing                        // the end of an answer is being written to the client
)

// exchange is the state of a connection's request, with its buffers: a connection waiting for
// a request with nothing read leaves it to the loop for the next one to use.
type exchange struct {
	h1Buffers

	snap   *snapshot
	d      route.Decision
	sl     slot
	keep   bool // the connection may carry another request
	code   int  // the status to count
	headed bool // the current head began to arrive: ReadHeaderTimeout bounds the rest

	mc      *memberConn
	reused  bool // mc came from the pool
	got     bool // some of an answer arrived
	n1xx    int
	sent    int // bytes of head written
	body    bodyFramer
	written int // bytes of out written
}

// newExchange returns a spare exchange of the loop, or a new one.
func (l *h1Loop) newExchange() *exchange {
	if n := len(l.spare); n > 0 {
		x := l.spare[n-1]
		l.spare[n-1] = nil
		l.spare = l.spare[:n-1]
		return x
	}
	return &exchange{h1Buffers: newH1Buffers(l.g.opts.MaxHeaderBytes)}
}

// maxSpare bounds the exchanges a loop keeps for its connections' next requests.
const maxSpare = 256

// release gives x back to the loop, for another request.
func (l *h1Loop) release(x *exchange) {
	if len(l.spare) >= maxSpare {
		return
	}
	*x = exchange{h1Buffers: x.emptied()}
	l.spare = append(l.spare, x)
}

// clientReady takes the events the loop reported for the client's socket, and moves the
// connection on.
func (c *loopConn) clientReady(events uint32) {
	c.readable, c.writable, c.hup = readiness(events, c.readable, c.writable, c.hup)
	c.advance()
}

// advance takes the steps the connection's state and sockets allow. When a request ends and
// the next one can be read, it goes on here rather than deeper in the stack; after
// maxTurn requests it lets the loop's other connections go first.
func (c *loopConn) advance() {
	for turn := 0; !c.closed; turn++ {
		if turn == maxTurn {
			c.l.again = append(c.l.again, c)
			return
		}
		served := c.served
		c.step()
		if c.closed || c.state != awaitingRequest || c.served == served {
			return
		}
	}
}

// maxTurn is how many requests of one connection the loop serves in a row.
const maxTurn = 16

// step takes the next step of the connection's state.
func (c *loopConn) step() {
	if c.state != awaitingRequest {
		if c.hup && c.gone() {
			c.clientGone()
			return
		}
		if x := c.x; x.written < len(x.out) && !c.flush() {
			return
		}
	}
	switch c.state {
	case awaitingRequest:
		c.readRequest()
	case connecting:
		c.connected()
	case sending:
		c.send()
	case awaitingAnswer:
		c.readAnswer()
	case relaying:
		c.relay()
	case finishing:
		c.finish()
	}
}

// idle reports whether the connection waits for a request with nothing of it read.
func (c *loopConn) idle() bool {
	return c.state == awaitingRequest && (c.x == nil || c.x.n == 0)
}

// awaitRequest waits for the next request, IdleTimeout for its first byte, or
// ReadHeaderTimeout for the rest of a head pipelined behind the last one; advance reads it.
func (c *loopConn) awaitRequest() {
	c.state = awaitingRequest
	if x := c.x; x != nil && x.n == 0 {
		c.l.release(x)
		c.x = nil
	}
	if c.x == nil {
		c.deadline = c.after(c.l.g.opts.IdleTimeout)
	} else {
		c.x.headed = true
		c.deadline = c.after(c.l.g.opts.ReadHeaderTimeout)
	}
}

// after is the deadline of a wait of d that starts now, as package coarse makes it: never
// early, at most two ticks late.
func (c *loopConn) after(d time.Duration) int64 {
	return c.l.g.clock.Now() + int64(d) + int64(clockTick)
}

// readRequest reads until the buffer holds a complete head, and serves it; a connection that
// ends is closed, as net/http's server does.
func (c *loopConn) readRequest() {
	g := c.l.g
	for {
		if x := c.x; x != nil && x.n > 0 {
			switch h1.ParseRequest(x.buf[:x.n], g.opts.MaxHeaders, &x.req) {
			case h1.Simple:
				if !x.req.Upgrade {
					c.serve()
					return
				}
				c.giveBack()
				return
			case h1.Other:
				c.giveBack()
				return
			case h1.Incomplete:
				if x.n == len(x.buf) {
					c.giveBack() // a head larger than the buffer
					return
				}
			}
		}
		if !c.readable {
			return
		}
		if c.x == nil {
			c.x = c.l.newExchange()
		}
		x := c.x
		m, err := readFd(c.fd, x.buf[x.n:])
		switch {
		case m > 0:
			if m < len(x.buf)-x.n {
				c.readable = false
			}
			x.n += m
			if !x.headed {
				x.headed = true
				c.deadline = c.after(g.opts.ReadHeaderTimeout)
			}
		case errors.Is(err, syscall.EAGAIN):
			c.readable = false
		default: // the end of the stream, or a failure
			c.close()
			return
		}
	}
}

// giveBack gives the connection, with the bytes read, back to a goroutine of the server
// (h1conn.go), which serves what the loop does not.
func (c *loopConn) giveBack() {
	l := c.l
	x := c.x
	_ = l.p.Delete(c.fd)
	l.forget(c.fd)
	l.leave(c)
	// The loop borrows only sockets that ReleaseSocket gave, which ReclaimSocket takes back.
	c.c.(socketReclaimer).ReclaimSocket(c.fd)
	hc := newH1Conn(l.s, c.c)
	hc.n = copy(hc.buf, x.buf[:x.n])
	c.x = nil
	l.release(x)
	if !l.s.track(hc) {
		_ = hc.c.Close()
		l.s.release(hc)
		return
	}
	go hc.serve()
}

// serve routes the request and answers it, or starts its exchange with the member.
func (c *loopConn) serve() {
	l, g, x := c.l, c.l.g, c.x
	start := time.Now()
	s := g.snap.Load()
	d := s.table.Decide(&x.req, start, s)
	g.metrics.routing.Observe(time.Since(start).Seconds())
	x.snap, x.d, x.keep = s, d, !x.req.Close && !l.s.closing.Load()
	c.deadline = 0
	if d.Action != route.Proxy {
		c.answer(func(w http.ResponseWriter) int { return g.answer(w, d) })
		return
	}
	x.sl = s.slot(d.Ring, d.Member)
	if !x.sl.target.addrPort.IsValid() {
		c.giveBack() // the goroutine path routes it again, and dials the name
		return
	}
	x.head = appendMemberHead(x.head[:0], &x.req, c.remote, g.opts.TrustForwarded)
	c.exchangeOn(l.takeIdle(x.sl.target))
}

// exchangeOn sends the request on m, a pooled member connection, or on a new one if m is
// nil.
func (c *loopConn) exchangeOn(m *memberConn) {
	x := c.x
	x.reused, x.got, x.n1xx, x.sent = m != nil, false, 0, 0
	if m == nil {
		var pending bool
		var err error
		if m, pending, err = c.l.dial(x.sl.target); err != nil {
			c.failed(err)
			return
		}
		if pending {
			m.owner, x.mc = c, m
			c.state, c.deadline = connecting, c.after(c.l.g.opts.DialTimeout)
			return
		}
	}
	m.owner, x.mc = c, m
	c.state = sending
	c.send()
}

// connected moves on once the member connection is made.
func (c *loopConn) connected() {
	m := c.x.mc
	if !m.writable {
		return
	}
	made, err := sockopt.Connected(m.fd)
	switch {
	case err != nil:
		c.memberFailed(c.l.g.dialer.Failed(dialOpError(m.t, err)))
	case made:
		c.state = sending
		c.send()
	default:
		m.writable = false
	}
}

// send writes the request head to the member, then waits for the answer: MemberReadTimeout
// from now.
func (c *loopConn) send() {
	x := c.x
	m := x.mc
	for x.sent < len(x.head) {
		if !m.writable {
			return
		}
		n, err := sockopt.Send(m.fd, x.head[x.sent:])
		switch {
		case errors.Is(err, syscall.EAGAIN):
			m.writable = false
			c.deadline = c.after(c.l.g.opts.SendTimeout)
			return
		case err != nil:
			c.memberFailed(os.NewSyscallError("write", err))
			return
		}
		x.sent += n
	}
	c.state, c.deadline = awaitingAnswer, c.after(c.l.g.opts.MemberReadTimeout)
	c.readAnswer()
}

// readAnswer reads the member's answer head, relaying informational answers but 100 Continue
// to the client, and starts relaying the final one.
func (c *loopConn) readAnswer() {
	x := c.x
	m := x.mc
	isHead := x.req.Method() == http.MethodHead
	for {
		if m.w > m.r {
			done, err := h1.ParseResponse(m.buf[m.r:m.w], isHead, &x.resp)
			switch {
			case err != nil:
				c.memberFailed(err)
				return
			case done && x.resp.Code >= 200:
				c.startRelay()
				return
			case done && x.resp.Code == 101:
				c.memberFailed(errUnexpected101)
				return
			case done:
				if x.n1xx++; x.n1xx > max1xx {
					c.memberFailed(errTooMany1xx)
					return
				}
				if x.resp.Code != 100 {
					x.out = appendAnswerHead(x.out, &x.resp, c.l.g.memberHeader, x.sl, true, nil)
					m.r += x.resp.Len
					if !c.flush() {
						return
					}
				} else {
					m.r += x.resp.Len
				}
				continue
			case m.w-m.r == len(m.buf):
				c.memberFailed(h1.ErrHeadTooLarge)
				return
			}
		}
		if !m.readable {
			return
		}
		if m.r > 0 {
			m.w = copy(m.buf, m.buf[m.r:m.w])
			m.r = 0
		}
		n, err := readFd(m.fd, m.buf[m.w:])
		switch {
		case n > 0:
			if n < len(m.buf)-m.w {
				m.readable = false
			}
			m.w += n
			x.got = true
		case errors.Is(err, syscall.EAGAIN):
			m.readable = false
		case err == nil:
			c.memberFailed(io.EOF)
			return
		default:
			c.memberFailed(os.NewSyscallError("read", err))
			return
		}
	}
}

// memberFailed ends an exchange whose member failed before its answer began: on a pooled
// connection that got nothing, the request goes again on a new one (the member closed the
// connection, or wrote on it, before it saw the request); otherwise the client gets the
// answer for a failed member.
func (c *loopConn) memberFailed(err error) {
	x := c.x
	c.l.closeMember(x.mc)
	x.mc = nil
	if x.reused && !x.got && !upstream.IsTimeout(err) {
		c.exchangeOn(nil)
		return
	}
	if x.got && !upstream.IsTimeout(err) {
		c.l.g.log.V(1).Info("member failed", "ring", x.d.Ring.ID, "member", x.d.Member.Label, "error", err.Error())
	}
	c.failed(err)
}

// failed answers a request whose member could not be reached or did not answer.
func (c *loopConn) failed(err error) {
	x := c.x
	c.answer(func(w http.ResponseWriter) int { return c.l.g.memberFailed(w, x.snap, x.d, x.sl, err) })
}

// answer writes the gateway's own answer, which write makes, and ends the request.
func (c *loopConn) answer(write func(http.ResponseWriter) int) {
	x := c.x
	w := &x.answer
	w.reset(x.keep, x.req.Method() == http.MethodHead)
	x.code = write(w)
	x.out = w.appendTo(x.out)
	c.state = finishing
	c.finish()
}

// startRelay writes the answer's head and relays its body.
func (c *loopConn) startRelay() {
	x := c.x
	x.keep = x.keep && x.resp.Framing != h1.UntilClose
	x.code = x.resp.Code
	x.out = appendAnswerHead(x.out, &x.resp, c.l.g.memberHeader, x.sl, x.keep, nil)
	x.mc.r += x.resp.Len
	x.body = newBodyFramer(&x.resp)
	c.state, c.deadline = relaying, 0
	c.relay()
}

// relay relays the answer's body as it arrives: what the member's buffer holds is gathered
// behind what is yet to be written, and written once the buffer is relayed or maxOut is
// gathered. A wait for the member is bounded by MemberReadTimeout, one for the client by
// SendTimeout.
func (c *loopConn) relay() {
	x := c.x
	m := x.mc
	for !x.body.ended() {
		if len(x.out)-x.written >= maxOut && !c.flush() {
			return
		}
		if m.w > m.r {
			n, done, err := x.body.feed(m.buf[m.r:m.w])
			if err != nil {
				c.flush()
				c.abort()
				return
			}
			x.out = append(x.out, m.buf[m.r:m.r+n]...)
			m.r += n
			if done {
				break
			}
			continue
		}
		if !c.flush() {
			return
		}
		if !m.readable {
			c.deadline = c.after(c.l.g.opts.MemberReadTimeout)
			return
		}
		n, err := readFd(m.fd, m.buf)
		m.r, m.w = 0, max(n, 0)
		switch {
		case n > 0:
			m.readable = n == len(m.buf)
		case errors.Is(err, syscall.EAGAIN):
			m.readable = false
		case err == nil && x.body.framing == h1.UntilClose:
			c.l.closeMember(m)
			x.mc = nil
			c.state = finishing
			c.finish()
			return
		default:
			c.abort()
			return
		}
	}
	if m.w > m.r || m.readable || !x.resp.KeepAlive {
		// The member sent more than its answer (or may have: the last read filled the
		// buffer), or closes.
		c.l.closeMember(m)
	} else {
		c.l.putIdle(m)
	}
	x.mc = nil
	c.state = finishing
	c.finish()
}

// finish writes what is left of the answer, counts the request and waits for the next one,
// or closes the connection.
func (c *loopConn) finish() {
	x := c.x
	if !c.flush() {
		return
	}
	c.l.g.metrics.countRequest(x.d, x.code, false)
	c.served++
	x.n = copy(x.buf, x.buf[x.req.Len:x.n])
	x.out, x.written = x.out[:0], 0
	if !x.keep {
		c.close()
		return
	}
	x.headed = false
	c.awaitRequest()
}

// flush writes what is yet to be written to the client, and reports whether all of it was.
// A write the socket does not take whole waits for it, SendTimeout; a failed one ends the
// connection (false as well).
func (c *loopConn) flush() bool {
	x := c.x
	for x.written < len(x.out) {
		if !c.writable {
			return false
		}
		n, err := sockopt.Send(c.fd, x.out[x.written:])
		switch {
		case errors.Is(err, syscall.EAGAIN):
			c.writable = false
			c.deadline = c.after(c.l.g.opts.SendTimeout)
			return false
		case err != nil:
			c.abort()
			return false
		}
		x.written += n
	}
	x.out, x.written = x.out[:0], 0
	return true
}

// gone reports whether the client, whose socket reported a shutdown, went away: a peek finds
// the end of the stream or an error. Bytes to read (a pipelined request) are not an end; the
// report is taken then, and the next read finds the end.
func (c *loopConn) gone() bool {
	if peek.Ended(uintptr(c.fd)) {
		return true
	}
	c.hup = false
	return false
}

// clientGone ends a request whose client went away: 499 if the answer had not begun.
func (c *loopConn) clientGone() {
	if c.state < relaying {
		c.x.code = statusClientClosed
	}
	c.abort()
}

// expired ends the wait whose deadline passed.
func (c *loopConn) expired() {
	c.deadline = 0
	switch c.state {
	case awaitingRequest:
		c.close() // nothing is answered, as net/http's server does
	case connecting:
		c.memberFailed(c.l.g.dialer.Failed(dialOpError(c.x.mc.t, os.ErrDeadlineExceeded)))
	case sending, awaitingAnswer:
		if c.x.written < len(c.x.out) {
			c.abort() // the client does not take the informational answers
			return
		}
		c.memberFailed(os.ErrDeadlineExceeded)
	case relaying, finishing:
		c.abort()
	}
}

// abort ends a request that cannot be answered, or whose answer cannot be finished: it is
// counted, and both connections close.
func (c *loopConn) abort() {
	x := c.x
	if c.closed {
		return
	}
	if x.mc != nil {
		c.l.closeMember(x.mc)
		x.mc = nil
	}
	if x.code == 0 {
		x.code = http.StatusBadGateway
	}
	c.l.g.metrics.countRequest(x.d, x.code, false)
	c.close()
}

// close closes the connection, and frees its slot of MaxConnections.
func (c *loopConn) close() {
	l := c.l
	if c.closed {
		return
	}
	c.closed = true
	if x := c.x; x != nil {
		if x.mc != nil {
			l.closeMember(x.mc)
		}
		c.x = nil
		l.release(x)
	}
	l.forget(c.fd)
	_ = syscall.Close(c.fd)
	_ = c.c.Close() // the socket is released: this frees the slot
	l.leave(c)
}

// readFd reads from fd: n > 0, or 0 with nil at the end of the stream, or the errno.
func readFd(fd int, p []byte) (int, error) {
	for {
		n, err := syscall.Read(fd, p)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return 0, err
		}
		return n, nil
	}
}

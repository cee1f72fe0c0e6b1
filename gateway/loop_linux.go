package gateway

import (
	"net"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/stablering/stablering/gateway/internal/epoll"
	"github.com/stablering/stablering/gateway/internal/sockopt"
	"github.com/stablering/stablering/gateway/peek"
	"github.com/stablering/stablering/gateway/tunnel"
)

// An h1Loop serves client connections of the gateway's own HTTP/1.1 path on an event loop,
// as nginx's workers do: one goroutine takes what epoll reports, and for each readiness reads
// the socket (again only while reads fill the buffer, so no read ever answers EAGAIN but
// the last of a burst), parses request heads with package h1, routes them, exchanges them
// with the member on connections the loop pools and dials itself, and relays the answers by
// their framing. No goroutine is woken, no timer set and no deadline armed per request:
// the loop checks its connections' deadlines against the gateway's coarse clock when it
// ticks. docs/architecture.md has the measurements behind the design.
//
// A connection comes to a loop when its goroutine (h1conn.go) would wait for a request: its
// socket, still bare (package accept), is lent to the loop. The loop gives it back, with
// the bytes read, for any request it does not serve itself: one with a body, an upgrade,
// anything package h1 calls Other, a member address that is not an IP literal.
type h1Loop struct {
	s *h1Server
	g *Gateway
	p *epoll.Poller

	mu       sync.Mutex
	arrivals []*loopConn // lent connections, for the loop to register
	closing  bool        // shutdown: idle connections close, none is kept alive
	kill     bool        // shutdown's limit passed: everything closes
	stopped  bool        // the loop has ended; lend refuses
	done     chan struct{}

	// The loop's own.
	fds     fdTable
	nextGen uint32
	conns   map[*loopConn]struct{}
	idle    map[*target][]*memberConn // pooled member connections, most recent last
	spare   []*exchange               // buffers of connections that went idle
	again   []*loopConn               // connections to go on with after the others (maxTurn)
	ticked  int64                     // the coarse time of the last deadline check
	// draining: the loop has seen the shutdown
	draining bool
	yielded  time.Time
}

// fdEntry is what a descriptor of the loop belongs to: a client connection or a member
// connection, under the generation its registration's key carries, so that a report for a
// descriptor closed and reused in the same round is not taken for the new one's.
type fdEntry struct {
	gen uint32
	c   *loopConn
	m   *memberConn
}

// loopEvents are the events every socket of a loop is registered for, once: readable,
// writable, and the peer's shutdown, edge-triggered.
const loopEvents = epoll.In | epoll.Out | epoll.RDHup | epoll.Edge

// startLoops starts n event loops for the server; where one cannot start, the connections stay
// on their goroutines.
func (s *h1Server) startLoops(n int) {
	for range n {
		p, err := epoll.New()
		if err != nil {
			s.g.log.Error(err, "HTTP event loop did not start; connections stay on goroutines")
			return
		}
		l := &h1Loop{s: s, g: s.g, p: p, done: make(chan struct{}), conns: map[*loopConn]struct{}{},
			idle: map[*target][]*memberConn{}}
		s.loops = append(s.loops, l)
		go l.run()
	}
}

// lend gives the bare socket of hc to a loop, with what was read of its next request (which
// is nothing, or a plain request the loop serves), and reports whether it did; the goroutine
// is done with the connection then.
func (s *h1Server) lend(hc *h1Conn) bool {
	if len(s.loops) == 0 {
		return false
	}
	l := s.loops[s.next.Add(1)%uint32(len(s.loops))]
	rel, ok := hc.c.(tunnel.SocketReleaser)
	if !ok {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return false
	}
	fd, ok := rel.ReleaseSocket()
	if !ok {
		return false
	}
	c := &loopConn{l: l, c: hc.c, fd: fd, remote: hc.remote}
	if hc.n > 0 {
		c.early = append([]byte(nil), hc.buf[:hc.n]...)
	}
	l.arrivals = append(l.arrivals, c)
	if len(l.arrivals) == 1 {
		l.p.Wake()
	}
	return true
}

// shutdown asks the loop to close its idle connections and keep none alive; kill, to close
// them all.
func (l *h1Loop) shutdown(kill bool) {
	l.mu.Lock()
	l.closing, l.kill = true, l.kill || kill
	l.mu.Unlock()
	l.p.Wake()
}

// run is the loop. It ends once shutting down with no connection left, or when epoll fails.
func (l *h1Loop) run() {
	defer l.stop()
	l.yielded = time.Now()
	for {
		events, woken, err := l.wait()
		if err != nil {
			l.g.log.Error(err, "HTTP event loop failed; its connections are closed")
			return
		}
		// Pooled member connections first: one whose member wrote or closed while it was idle
		// is not to be lent to a request of the same round.
		for _, ev := range events {
			if e := l.entry(ev.Key); e.m != nil && e.m.owner == nil && !e.m.stillClean(ev.Events) {
				l.closeMember(e.m)
			}
		}
		for _, ev := range events {
			e := l.entry(ev.Key)
			switch {
			case e.c != nil:
				e.c.clientReady(ev.Events)
			case e.m != nil && e.m.owner != nil:
				e.m.memberReady(ev.Events)
			}
		}
		again := l.again
		l.again = nil
		for _, c := range again {
			c.advance()
		}
		if woken {
			l.takeArrivals()
		}
		if l.draining && l.finished() {
			return
		}
		if now := l.g.clock.Now(); now != l.ticked {
			l.ticked = now
			l.expire(now)
		}
		if t := time.Now(); t.Sub(l.yielded) >= loopYieldEvery {
			runtime.Gosched()
			l.yielded = t
		}
	}
}

// wait returns the events epoll has: at once while connections wait for their turn (maxTurn);
// otherwise parked in Go's netpoller until there are some (see epoll.Poller), for up to a
// tick of the coarse clock while the loop has deadlines to check.
func (l *h1Loop) wait() (events []epoll.Event, woken bool, err error) {
	if len(l.again) > 0 {
		return l.p.Wait(0)
	}
	var tick time.Duration // none: nothing to expire
	if len(l.conns) > 0 || len(l.idle) > 0 {
		tick = clockTick
	}
	return l.p.Park(tick)
}

// loopYieldEvery is how often a busy loop yields its processor, for the reason the tunnels'
// loops do (package tunnel's yieldEvery).
const loopYieldEvery = 4 * time.Millisecond

// entry returns the entry a key names, the zero entry if its descriptor is no longer the one
// registered.
func (l *h1Loop) entry(key uint64) fdEntry {
	if e := l.fds.get(int(uint32(key))); e.gen == uint32(key>>32) {
		return e
	}
	return fdEntry{}
}

// register registers fd with the loop for c or m, and returns its key.
func (l *h1Loop) register(fd int, c *loopConn, m *memberConn) (uint64, error) {
	l.nextGen++
	key := uint64(fd) | uint64(l.nextGen)<<32
	if err := l.p.Add(fd, loopEvents, key); err != nil {
		return 0, err
	}
	l.fds.set(fd, fdEntry{gen: l.nextGen, c: c, m: m})
	return key, nil
}

// forget drops the entry of fd, before it is closed or given back.
func (l *h1Loop) forget(fd int) { l.fds.clear(fd) }

// takeArrivals registers the lent connections, and carries out a shutdown's requests.
func (l *h1Loop) takeArrivals() {
	l.mu.Lock()
	arrivals := l.arrivals
	l.arrivals = nil
	closing, kill := l.closing, l.kill
	l.mu.Unlock()
	for _, c := range arrivals {
		l.arrive(c)
	}
	if closing {
		l.draining = true
		for c := range l.conns {
			if kill || c.idle() {
				c.close()
			}
		}
	}
}

// finished reports whether the loop, shutting down, has no connection left; lend refuses
// from then on.
func (l *h1Loop) finished() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.conns) == 0 && len(l.arrivals) == 0 {
		l.stopped = true
	}
	return l.stopped
}

// arrive registers a lent connection and waits for its request.
func (l *h1Loop) arrive(c *loopConn) {
	key, err := l.register(c.fd, c, nil)
	if err != nil {
		l.g.log.V(1).Info("HTTP event loop cannot take a connection", "error", err.Error())
		_ = syscall.Close(c.fd)
		_ = c.c.Close()
		return
	}
	c.key = key
	l.conns[c] = struct{}{}
	if c.early != nil {
		c.x = l.newExchange()
		c.x.n = copy(c.x.buf, c.early)
		c.early = nil
	}
	c.awaitRequest()
	if c.x != nil {
		c.advance() // no report comes for the bytes read already
	}
}

// expire ends the waits whose deadline passed, and closes pooled member connections idle for
// longer than UpstreamIdleTimeout or whose address left the table.
func (l *h1Loop) expire(now int64) {
	for c := range l.conns {
		if c.deadline != 0 && now >= c.deadline {
			c.expired()
		}
	}
	limit := now - int64(l.g.opts.UpstreamIdleTimeout)
	for t, ms := range l.idle {
		if t.Closed() {
			for len(l.idle[t]) > 0 {
				l.closeMember(l.idle[t][0])
			}
			continue
		}
		for len(ms) > 0 && ms[0].idleSince < limit {
			l.closeMember(ms[0])
			ms = l.idle[t]
		}
	}
}

// stop ends the loop: every connection and pooled member connection closes.
func (l *h1Loop) stop() {
	l.mu.Lock()
	l.stopped = true
	arrivals := l.arrivals
	l.arrivals = nil
	l.mu.Unlock()
	for _, c := range arrivals {
		_ = syscall.Close(c.fd)
		_ = c.c.Close()
	}
	for c := range l.conns {
		c.close()
	}
	for t := range l.idle {
		for len(l.idle[t]) > 0 {
			l.closeMember(l.idle[t][0])
		}
	}
	l.p.Close()
	close(l.done)
}

// memberConn is a connection to a member, on a loop: pooled while idle, and lent to one
// client connection's exchange at a time.
type memberConn struct {
	l     *h1Loop
	t     *target
	fd    int
	buf   []byte // the answer as read: buf[r:w] is yet to be relayed
	r, w  int
	owner *loopConn // the exchange that uses it; nil while pooled

	readable, writable, hup bool
	idleSince               int64 // coarse time it was pooled
}

// memberBufferSize is a member connection's read buffer: an answer head must fit, as with
// the goroutine path's pooled connections.
const memberBufferSize = 8 << 10

// dial starts a connection to t's member, and registers it.
func (l *h1Loop) dial(t *target) (m *memberConn, pending bool, err error) {
	fd, pending, err := sockopt.Connect(t.addrPort, tcpKeepAlive.Idle)
	if err == nil {
		m = &memberConn{l: l, t: t, fd: fd, buf: make([]byte, memberBufferSize), writable: !pending}
		if _, err = l.register(fd, nil, m); err != nil {
			_ = syscall.Close(fd)
		}
	}
	if err != nil {
		return nil, false, l.g.dialer.Failed(dialOpError(t, err))
	}
	return m, pending, nil
}

// takeIdle lends the most recently pooled connection to t's member, nil if none.
func (l *h1Loop) takeIdle(t *target) *memberConn {
	ms := l.idle[t]
	if len(ms) == 0 {
		return nil
	}
	m := ms[len(ms)-1]
	ms[len(ms)-1] = nil
	if len(ms) == 1 {
		delete(l.idle, t)
	} else {
		l.idle[t] = ms[:len(ms)-1]
	}
	m.r, m.w = 0, 0
	return m
}

// putIdle pools m, which has nothing left to read, unless the pool of its member is full.
func (l *h1Loop) putIdle(m *memberConn) {
	ms := l.idle[m.t]
	if len(ms) >= l.g.opts.MaxIdleConnsPerMember || m.hup || l.draining {
		l.closeMember(m)
		return
	}
	m.owner, m.idleSince = nil, l.g.clock.Now()
	l.idle[m.t] = append(ms, m)
}

// closeMember closes m, and takes it out of its pool if it is pooled.
func (l *h1Loop) closeMember(m *memberConn) {
	if m.owner == nil {
		ms := l.idle[m.t]
		for i, p := range ms {
			if p == m {
				ms = append(ms[:i], ms[i+1:]...)
				break
			}
		}
		if len(ms) == 0 {
			delete(l.idle, m.t)
		} else {
			l.idle[m.t] = ms
		}
	}
	l.forget(m.fd)
	_ = syscall.Close(m.fd)
	m.owner = nil
}

// stillClean reports whether a pooled connection whose socket reported events is still fit
// for a request: the member neither closed it nor wrote on it. A report of readable alone
// may be one the loop has read already (edge-triggered reports of one answer's segments), so
// a peek decides.
func (m *memberConn) stillClean(events uint32) bool {
	if events&(epoll.RDHup|epoll.Hup|epoll.Err) != 0 {
		return false
	}
	return events&epoll.In == 0 || !peek.Readable(uintptr(m.fd))
}

// memberReady takes the events the loop reported for m, and moves its exchange on.
func (m *memberConn) memberReady(events uint32) {
	m.readable, m.writable, m.hup = readiness(events, m.readable, m.writable, m.hup)
	m.owner.advance()
}

// readiness adds what events report to a socket's readiness: readable (or at its end, or
// failed: a read tells), writable (or failed), and shut down by the peer. A report stays
// until a read or write finds the socket not ready, as with nginx's ready flags.
func readiness(events uint32, readable, writable, hup bool) (bool, bool, bool) {
	const ended = epoll.RDHup | epoll.Hup | epoll.Err
	return readable || events&(epoll.In|ended) != 0,
		writable || events&(epoll.Out|epoll.Hup|epoll.Err) != 0,
		hup || events&ended != 0
}

// dialOpError wraps a failure to connect to t as Go's net package does.
func dialOpError(t *target, err error) error {
	return &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(t.addrPort), Err: err}
}

// leave forgets a connection that left the loop: closed, or given back to a goroutine.
func (l *h1Loop) leave(c *loopConn) { delete(l.conns, c) }

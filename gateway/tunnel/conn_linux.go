package tunnel

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stablering/stablering/gateway/internal/sockopt"
)

// A Conn is a TCP connection to a member whose socket is the package's from the start: Dial
// opens it on an event loop, which reports its readiness, and a raw tunnel started with it as
// the backend takes the socket as it is. The gateway dials the member of a WebSocket handshake
// this way. Compared with a net.Conn handed over to a loop, it saves what Go's net package
// spends on a socket the loop takes anyway: the registration in Go's netpoller and its
// removal, the local and peer address queries after connect, and the duplication and close of
// the hand-over (Start).
//
// Until a tunnel takes it, a Conn is a net.Conn like any other, safe for concurrent use:
// Read and Write try the socket and, when it has nothing (EAGAIN), wait for the loop to report
// it ready, within the deadlines; Close wakes them. A raw tunnel takes the socket only when
// nothing else uses the Conn (after the handshake); a tunnel that runs on goroutines (its
// client is a TLS connection) uses it as a net.Conn.
type Conn struct {
	fd    int
	l     *rawLoop
	key   uint64
	raddr netip.AddrPort

	rd, wr    waits         // reads', writes'
	closed    chan struct{} // closed by Close
	closeOnce sync.Once

	// mu keeps the descriptor from being closed (and reused) while a read or write is in a
	// system call on it: they hold it shared, Close and the take-over hold it alone.
	mu    sync.RWMutex
	taken bool // a raw tunnel has the socket, or Close closed it: fd is no longer the Conn's

	adopter atomic.Pointer[rawTunnel] // the raw tunnel that took the socket
	out     atomic.Bool               // the socket is registered for EPOLLOUT too (awaitWritable)
	// reports counts the loop's reports that the socket is readable; seen is its value
	// before the last read, which is what take compares it with.
	reports atomic.Uint32
	seen    uint32
}

// Dial connects to address (an IP address and port) on one of the package's event loops. Its
// errors are those of socket(2), connect(2) and setsockopt(2), wrapped in *net.OpError, a
// timeout, the context's error, or ErrNoLoop.
func Dial(ctx context.Context, address string, opts DialOptions) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || !rawTunnels {
		return nil, ErrNoLoop
	}
	l := pickLoop()
	if l == nil {
		return nil, ErrNoLoop
	}
	fd, pending, err := sockopt.Connect(ap, opts.KeepAliveIdle)
	if err != nil {
		return nil, dialError(ap, err)
	}
	c := newConn(fd, l, ap)
	// Registered once the connect has begun: before, the socket (closed, in TCP's terms)
	// would be reported hung up, a stale report that the first wait would take.
	if err := l.add(c); err != nil {
		_ = syscall.Close(fd)
		return nil, dialError(ap, err)
	}
	if pending {
		if err := c.awaitConnect(ctx, opts.Timeout); err != nil {
			_ = c.Close()
			return nil, dialError(ap, err)
		}
	}
	return c, nil
}

// waits is how the reads, or the writes, of a Conn wait for the socket.
type waits struct {
	// ready holds a token when the loop reported the socket ready (or failed) since the last
	// wait, or the deadline changed while a wait was on.
	ready    chan struct{}
	deadline atomic.Int64 // Unix nanoseconds, 0 for none
	waiting  atomic.Int32 // waits under way
	// timer ends a wait at the deadline; made by the first wait that has one (most
	// handshakes' writes never wait).
	timer atomic.Pointer[time.Timer]
}

func newWaits() waits { return waits{ready: make(chan struct{}, 1)} }

// startTimer starts w's timer for d, making it the first time.
func (w *waits) startTimer(d time.Duration) *time.Timer {
	if t := w.timer.Load(); t != nil {
		t.Reset(d)
		return t
	}
	t := time.NewTimer(d)
	if w.timer.CompareAndSwap(nil, t) {
		return t
	}
	t.Stop() // a concurrent wait made one first
	t = w.timer.Load()
	t.Reset(d)
	return t
}

// setDeadline sets the deadline, and wakes a wait under way to see it. A wait counts itself
// before it reads the deadline, and this reads the count after it set the deadline: a wait
// either sees the new deadline or is woken.
func (w *waits) setDeadline(t time.Time) {
	w.deadline.Store(unixNano(t))
	if w.waiting.Load() > 0 {
		signal(w.ready)
	}
}

func newConn(fd int, l *rawLoop, ap netip.AddrPort) *Conn {
	return &Conn{fd: fd, l: l, raddr: ap, rd: newWaits(), wr: newWaits(), closed: make(chan struct{})}
}

// awaitConnect waits until the connection started by sockopt.Connect is made or has failed,
// within timeout and the context, waiting for the loop to report the socket writable when
// it is not made yet.
func (c *Conn) awaitConnect(ctx context.Context, timeout time.Duration) error {
	deadline, ok := ctx.Deadline()
	if timeout > 0 {
		if d := time.Now().Add(timeout); !ok || d.Before(deadline) {
			deadline = d
		}
	}
	c.wr.deadline.Store(unixNano(deadline))
	defer c.wr.deadline.Store(0)
	for {
		switch made, err := sockopt.Connected(c.fd); {
		case err != nil:
			return err
		case made:
			return nil // and maybe already closed by the peer, which a read will tell
		}
		if err := c.awaitWritable(ctx); err != nil {
			return err
		}
	}
}

// awaitWritable waits for the loop to report the socket writable, or failed, registering it
// for EPOLLOUT first if it is not yet (add says why not from the start). The registration
// looks at the socket as it is: one that became writable since the caller found it full is
// reported at once.
func (c *Conn) awaitWritable(ctx context.Context) error {
	if !c.out.Load() {
		if err := c.registerWrites(); err != nil {
			return err
		}
	}
	return c.waitCtx(ctx, &c.wr)
}

// registerWrites adds EPOLLOUT to the socket's events, unless the Conn is closed.
func (c *Conn) registerWrites() error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.taken {
		return net.ErrClosed
	}
	if c.out.Swap(true) {
		return nil // another write did it
	}
	if err := c.l.ctl(syscall.EPOLL_CTL_MOD, c.fd, c.key, backend, rawEvents|syscall.EPOLLOUT); err != nil {
		c.out.Store(false)
		return err
	}
	return nil
}

// unixNano is t in Unix nanoseconds, 0 for the zero time.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// dialError wraps a failure to connect as Go's net package does.
func dialError(ap netip.AddrPort, err error) error {
	if op := (*net.OpError)(nil); errors.As(err, &op) {
		return err
	}
	return &net.OpError{Op: "dial", Net: "tcp", Addr: net.TCPAddrFromAddrPort(ap), Err: err}
}

// ready is the loop's report that the socket is ready for events. After a raw tunnel took
// the socket, the report is the tunnel's (the loop may have looked the Conn up just before).
func (c *Conn) ready(i int, events uint32) {
	if rt := c.adopter.Load(); rt != nil {
		rt.ready(i, events)
		return
	}
	if events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLERR|syscall.EPOLLHUP) != 0 {
		c.reports.Add(1)
		c.l.handOff(c.rd.ready)
	}
	if events&(syscall.EPOLLOUT|syscall.EPOLLERR|syscall.EPOLLHUP) != 0 {
		c.l.handOff(c.wr.ready)
	}
}

// loopStopped is the loop's report that it stopped: the Conn's waits end in an error.
func (c *Conn) loopStopped() { _ = c.Close() }

// signal leaves a token in ch, unless one is there.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Read reads from the socket, waiting for data within the read deadline.
func (c *Conn) Read(p []byte) (int, error) {
	for {
		c.seen = c.reports.Load()
		n, err := c.io(readRaw, p)
		switch {
		case err == nil && n == 0 && len(p) > 0:
			return 0, io.EOF
		case err == nil:
			return n, nil
		case !errors.Is(err, syscall.EAGAIN):
			return 0, c.opError("read", err)
		}
		if err := c.wait(&c.rd); err != nil {
			return 0, c.opError("read", err)
		}
	}
}

// WriteThenWait writes what of p the socket takes without waiting, then waits until the
// socket has something to read (bytes, an end or an error) or its read deadline passes,
// without the read that would find nothing yet. It returns how much it wrote; the caller
// writes the rest the usual way.
func (c *Conn) WriteThenWait(p []byte) (int, error) {
	n, err := c.io(writeRaw, p)
	switch {
	case err != nil && !errors.Is(err, syscall.EAGAIN):
		return n, c.opError("write", err)
	case n < len(p):
		return n, nil
	}
	if err := c.wait(&c.rd); err != nil {
		return n, c.opError("read", err)
	}
	return n, nil
}

// Write writes all of p, waiting for room within the write deadline.
func (c *Conn) Write(p []byte) (int, error) {
	n := 0
	for {
		m, err := c.io(writeRaw, p[n:])
		n += m
		switch {
		case n == len(p):
			return n, nil
		case err != nil && !errors.Is(err, syscall.EAGAIN):
			return n, c.opError("write", err)
		}
		if err := c.awaitWritable(context.Background()); err != nil {
			return n, c.opError("write", err)
		}
	}
}

// io runs op on the descriptor, unless the Conn is closed.
func (c *Conn) io(op func(int, []byte) (int, error), p []byte) (int, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.taken {
		return 0, net.ErrClosed
	}
	return op(c.fd, p)
}

// wait waits for a token in w.ready: the loop reported the socket ready, the deadline
// changed, or the Conn closed. It returns the timeout once the deadline has passed, and nil
// when the caller is to try the socket again.
func (c *Conn) wait(w *waits) error { return c.waitCtx(context.Background(), w) }

// waitCtx is wait, which the context's end also ends.
func (c *Conn) waitCtx(ctx context.Context, w *waits) error {
	w.waiting.Add(1) // before the deadline is read: see setDeadline
	defer w.waiting.Add(-1)
	select {
	case <-c.closed:
		return net.ErrClosed
	default:
	}
	d := w.deadline.Load()
	if d == 0 {
		select {
		case <-w.ready:
			return nil
		case <-c.closed:
			return net.ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	left := time.Duration(d - time.Now().UnixNano())
	if left <= 0 {
		return os.ErrDeadlineExceeded
	}
	timer := w.startTimer(left)
	defer timer.Stop()
	select {
	case <-w.ready:
		return nil
	case <-timer.C:
		return nil // the deadline is checked again before the next wait
	case <-c.closed:
		return net.ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Conn) opError(op string, err error) error {
	if errno := syscall.Errno(0); errors.As(err, &errno) {
		err = os.NewSyscallError(op, errno)
	}
	return &net.OpError{Op: op, Net: "tcp", Addr: c.RemoteAddr(), Err: err}
}

// Close closes the socket; waiting reads and writes return net.ErrClosed. After a raw tunnel
// took the socket it does nothing.
func (c *Conn) Close() error {
	first := false
	c.closeOnce.Do(func() { first = true; close(c.closed) })
	if !first {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.taken {
		return nil
	}
	c.taken = true
	c.l.remove(c.key)
	return syscall.Close(c.fd) // also takes it out of the epoll instance
}

// take hands the socket to rt: rt gets the descriptor, the loop and the key, and becomes the
// key's entry; the Conn no longer uses them. It reports false if the Conn is closed, and
// whether the loop reported the socket readable since the last read began, if any (the
// tunnel must then look, as the report was the Conn's). Only the goroutine that last read
// may call it.
func (c *Conn) take(rt *rawTunnel) (ok, readable bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.taken {
		return false, false
	}
	c.taken = true
	c.closeOnce.Do(func() { close(c.closed) })
	rt.l, rt.key, rt.fd[backend] = c.l, c.key, c.fd
	rt.out[backend] = c.out.Load()
	c.adopter.Store(rt)
	c.l.mu.Lock()
	c.l.entries[c.key] = rt
	c.l.mu.Unlock()
	return true, c.reports.Load() != c.seen
}

// LocalAddr is the socket's local address, asked of the kernel (Go's net package asks once
// after connect; here nothing on the gateway's path needs it).
func (c *Conn) LocalAddr() net.Addr {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if !c.taken {
		if sa, err := syscall.Getsockname(c.fd); err == nil {
			switch sa := sa.(type) {
			case *syscall.SockaddrInet4:
				return &net.TCPAddr{IP: sa.Addr[:], Port: sa.Port}
			case *syscall.SockaddrInet6:
				return &net.TCPAddr{IP: sa.Addr[:], Port: sa.Port}
			}
		}
	}
	return &net.TCPAddr{}
}

// RemoteAddr is the address dialled.
func (c *Conn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.raddr) }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	_ = c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline, also for a read waiting now.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.rd.setDeadline(t)
	return nil
}

// SetWriteDeadline sets the write deadline, also for a write waiting now.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.wr.setDeadline(t)
	return nil
}

// CloseWrite shuts the socket's sending side down, as *net.TCPConn's does.
func (c *Conn) CloseWrite() error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.taken {
		return c.opError("shutdown", net.ErrClosed)
	}
	if err := syscall.Shutdown(c.fd, syscall.SHUT_WR); err != nil {
		return c.opError("shutdown", err)
	}
	return nil
}

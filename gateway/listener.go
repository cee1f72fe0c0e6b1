package gateway

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stablering/stablering/gateway/internal/accept"
	"github.com/stablering/stablering/gateway/tunnel"
)

// fallbackMaxConnections is the default MaxConnections where the open-files limit is unknown.
const fallbackMaxConnections = 10000

// tcpKeepAlive is the TCP keep-alive of client and member connections: probes after 30 s
// without traffic, at the system's interval and count. Setting these two options costs two
// system calls per connection, where Go's default (all four) costs four: a WebSocket upgrade
// opens two connections.
var tcpKeepAlive = net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: -1, Count: -1}

// Listen listens on address for the gateway's clients, with its TCP keep-alive (see
// listenConfig). On Linux it accepts them as bare sockets, which a WebSocket's tunnel takes as
// they are (package accept).
func Listen(ctx context.Context, address string) (net.Listener, error) {
	lc := listenConfig()
	ln, err := lc.Listen(ctx, "tcp", address)
	if err != nil {
		return nil, err
	}
	return accept.Take(ln.(*net.TCPListener))
}

// limitListener bounds the connections accepted from a listener that are open at once: at the
// cap, Accept waits until one closes, so new clients wait in the kernel's listen backlog while
// established connections (and the admin port, a listener of its own) keep working.
//
// golang.org/x/net/netutil.LimitListener does the same, but its connections hide the
// syscall.Conn of the TCP connection beneath, and the tunnel needs it to wait for data without
// holding a buffer (package tunnel). These connections pass it through.
type limitListener struct {
	net.Listener
	slots     chan struct{} // one element per open connection
	done      chan struct{} // closed by Close
	closeOnce sync.Once
}

func newLimitListener(ln net.Listener, limit int) *limitListener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, limit), done: make(chan struct{})}
}

// Accept waits for a free slot, then accepts a connection that frees it when closed.
func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitedConn{Conn: c, l: l}, nil
}

func (l *limitListener) release() { <-l.slots }

// Close closes the listener and ends a waiting Accept.
func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// open is the number of accepted connections that are still open.
func (l *limitListener) open() int { return len(l.slots) }

// limit is the cap.
func (l *limitListener) limit() int { return cap(l.slots) }

// limitedConn is an accepted connection that frees its slot once, when first closed, hijacked
// and spliced connections included.
type limitedConn struct {
	net.Conn
	l      *limitListener // whose slot it holds
	closed atomic.Bool
}

// Close closes the connection and frees its slot.
func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.l.release()
	}
	return err
}

// SyscallConn returns the raw connection beneath, for waiting on readiness.
func (c *limitedConn) SyscallConn() (syscall.RawConn, error) { return syscallConnOf(c.Conn) }

// ReleaseSocket gives the socket beneath to a tunnel that takes it as it is, where the
// connection beneath can (tunnel.SocketReleaser).
func (c *limitedConn) ReleaseSocket() (int, bool) {
	if r, ok := c.Conn.(tunnel.SocketReleaser); ok {
		return r.ReleaseSocket()
	}
	return -1, false
}

// ReclaimSocket takes back a socket that ReleaseSocket gave away, where the connection
// beneath can (socketReclaimer); where it cannot, which no connection that released its
// socket is, the socket is closed.
func (c *limitedConn) ReclaimSocket(fd int) {
	if r, ok := c.Conn.(socketReclaimer); ok {
		r.ReclaimSocket(fd)
		return
	}
	_ = syscall.Close(fd)
}

// socketReclaimer is a connection that takes back the socket it released (accept.Conn).
type socketReclaimer interface{ ReclaimSocket(fd int) }

// ReadNow reads without waiting, where the connection beneath can (nowReader); it fails with
// accept.ErrNotBare where it cannot.
func (c *limitedConn) ReadNow(p []byte) (int, error) {
	if r, ok := c.Conn.(nowReader); ok {
		return r.ReadNow(p)
	}
	return 0, accept.ErrNotBare
}

// nowReader is a connection that reads without waiting (accept.Conn).
type nowReader interface{ ReadNow(p []byte) (int, error) }

// CloseWrite half-closes the connection, as net/http does before closing after an error.
func (c *limitedConn) CloseWrite() error { return closeWrite(c.Conn) }

// syscallConnOf returns the raw connection beneath c, for the wrappers that pass it through.
func syscallConnOf(c net.Conn) (syscall.RawConn, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, syscall.EINVAL
	}
	return sc.SyscallConn()
}

// closeWrite half-closes c, where it can.
func closeWrite(c net.Conn) error {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

package gateway

import (
	"errors"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// h1Server is the gateway's own server for cleartext connections. It accepts them, serves
// the requests package h1 takes (h1conn.go), and hands a connection with anything else, the
// bytes already read included, to net/http's server through a handoff listener, for the rest
// of its life. net/http keeps serving TLS, HTTP/2 (h2c included), bodies and upgrades.
//
// Why not a library: measured on this kind of machine (docs/architecture.md), net/http with
// httputil.ReverseProxy costs 4 to 7 times nginx's CPU per proxied request, and fasthttp 1.5
// times; a path that parses heads in place and forwards bytes costs about nginx's.
type h1Server struct {
	g       *Gateway
	ln      net.Listener
	handoff *handoffListener

	closing atomic.Bool // shutting down: no new connections, none kept alive

	free sync.Pool // of *h1Conn, see newH1Conn

	mu    sync.Mutex
	conns map[*h1Conn]struct{}
	wg    sync.WaitGroup // served connections

	loops []*h1Loop     // the event loops connections waiting for a request are lent to
	next  atomic.Uint32 // the loop the next connection goes to, modulo len(loops)
}

func newH1Server(g *Gateway, ln net.Listener) *h1Server {
	s := &h1Server{g: g, ln: ln, handoff: newHandoffListener(ln.Addr()), conns: map[*h1Conn]struct{}{}}
	s.startLoops(httpLoops())
	return s
}

// httpLoops is how many HTTP event loops a gateway runs (on Linux): one per Go processor, as
// nginx runs a worker per CPU. Unlike the tunnels' loops (tunnel.LoopCount), they park in Go's
// netpoller instead of blocking in epoll_wait, so they hold no processor, and a single
// processor has one too. The gateway's tests can set it to zero (-http-loops=0) to serve every
// request on the goroutine path.
var httpLoops = func() int { return runtime.GOMAXPROCS(0) }

// serve accepts connections until the listener is closed, and returns nil then.
func (s *h1Server) serve() error {
	var backoff time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.closing.Load() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() || isResourceError(err) {
				// Out of descriptors or buffers for a moment, as net/http's server does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.g.log.V(1).Info("accept failed; retrying", "error", err.Error(), "after", backoff.String())
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		hc := newH1Conn(s, c)
		if !s.track(hc) {
			_ = c.Close()
			continue
		}
		go hc.serve()
	}
}

// isResourceError reports whether an accept failed for lack of the process's or the system's
// resources, which passes.
func isResourceError(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	switch errno {
	case syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED:
		return true
	}
	return false
}

// track registers a new connection; false once the server is closing.
func (s *h1Server) track(hc *h1Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.conns[hc] = struct{}{}
	s.wg.Add(1)
	return true
}

// forget unregisters a connection that ended or was handed off.
func (s *h1Server) forget(hc *h1Conn) {
	s.mu.Lock()
	delete(s.conns, hc)
	s.mu.Unlock()
	s.wg.Done()
}

// shutdown stops accepting, closes the idle connections now and the others after their
// request, and waits for them until limit; then it closes what is left.
func (s *h1Server) shutdown(limit time.Duration) {
	s.mu.Lock()
	s.closing.Store(true) // track refuses new connections from now on
	s.mu.Unlock()
	_ = s.ln.Close()
	// Under mu: a connection that ends is forgotten before its state is released for reuse,
	// so every one seen here is still the connection it was.
	s.mu.Lock()
	for hc := range s.conns {
		hc.closeIfIdle()
	}
	s.mu.Unlock()
	for _, l := range s.loops {
		l.shutdown(false)
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		for _, l := range s.loops {
			<-l.done
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(limit):
		s.mu.Lock()
		for hc := range s.conns {
			_ = hc.c.Close()
		}
		s.mu.Unlock()
		for _, l := range s.loops {
			l.shutdown(true)
		}
		<-done
	}
}

// handoffListener is the listener of net/http's server behind the gateway's own: it yields
// the connections handed to it.
type handoffListener struct {
	addr      net.Addr
	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

func newHandoffListener(addr net.Addr) *handoffListener {
	return &handoffListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

// Accept implements net.Listener.
func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (l *handoffListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return nil
}

// Addr implements net.Listener.
func (l *handoffListener) Addr() net.Addr { return l.addr }

// give hands c to net/http's server; false when the server is closed.
func (l *handoffListener) give(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

// replayConn is a client connection handed to net/http's server: its first reads return the
// bytes the gateway already read.
type replayConn struct {
	net.Conn
	read []byte
}

// Read implements net.Conn.
func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.read) > 0 {
		n := copy(p, c.read)
		c.read = c.read[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// errReplaying: a tunnel may wait on the socket itself only when no bytes are left to
// replay; until then it reads as usual.
var errReplaying = errors.New("bytes read before the handoff are not consumed yet")

// SyscallConn returns the raw connection beneath, once the replayed bytes are consumed.
func (c *replayConn) SyscallConn() (syscall.RawConn, error) {
	if len(c.read) > 0 {
		return nil, errReplaying
	}
	return syscallConnOf(c.Conn)
}

// CloseWrite half-closes the connection, as net/http does before closing after an error.
func (c *replayConn) CloseWrite() error { return closeWrite(c.Conn) }

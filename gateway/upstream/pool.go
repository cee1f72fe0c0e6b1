package upstream

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stablering/stablering/gateway/coarse"
	"github.com/stablering/stablering/gateway/peek"
)

// An Upstream exchanges plain requests with its member on the caller's goroutine: it writes
// the request head on a pooled HTTP/1.1 connection and reads the answer with http.ReadResponse
// on the connection's own buffered reader. http.Transport runs two goroutines per connection
// and hands every request and response over channels; here a request crosses none.
//
// It handles requests without a body that may be sent twice (GET, HEAD, OPTIONS, TRACE), so a
// request whose pooled connection turns out to have been closed by the member can be retried
// on a new connection, as net/http does. Everything else (bodies, Expect: 100-continue,
// trailers, other methods) goes to the shared fallback transport (see NewFallback).

// Limits of a member's answer, as in http.Transport.
const (
	maxResponseHeaderBytes = 1 << 20
	max1xxResponses        = 5
	connBufferSize         = 8 << 10
)

var (
	errHeaderTooLarge = errors.New("member's response header too large")
	errTooMany1xx     = errors.New("too many 1xx informational responses")
	errUnexpected101  = errors.New("101 Switching Protocols to a request that did not ask for it")
	errBodyClosed     = errors.New("read on a closed response body")
)

// Options configure an Upstream.
type Options struct {
	// MaxIdle bounds the pooled idle connections.
	MaxIdle int
	// IdleTimeout closes pooled connections idle for longer.
	IdleTimeout time.Duration
	// ReadTimeout bounds the wait for the member's first byte after the request was sent, and
	// then for each read of its answer.
	ReadTimeout time.Duration
	// WriteTimeout bounds each write of a request.
	WriteTimeout time.Duration
	// DialUpgrade connects for a protocol switch (DialUpgrade); nil connects as for the rest.
	DialUpgrade DialFunc
}

// Upstream is a member address: the http.RoundTripper that keeps its idle connections, most
// recently used last, and delegates what it does not handle to a shared fallback transport;
// and its passive health.
type Upstream struct {
	address  string
	dial     DialFunc
	fallback http.RoundTripper
	opts     Options

	until atomic.Int64 // unix nanoseconds until which the address is unreachable

	mu     sync.Mutex
	idle   []*Conn
	closed bool // the address left the table or the gateway shut down
}

// DialFunc connects to an address; see Dialer.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// New returns the upstream of address, which connects with dial and hands what it does not
// exchange itself to fallback.
func New(address string, dial DialFunc, fallback http.RoundTripper, opts Options) *Upstream {
	return &Upstream{address: address, dial: dial, fallback: fallback, opts: opts}
}

// MarkUnreachable marks the address unreachable from now for d, and reports whether it was
// reachable before (a new mark rather than an extension).
func (u *Upstream) MarkUnreachable(now time.Time, d time.Duration) bool {
	_, marked := u.Unreachable(now)
	u.until.Store(now.Add(d).UnixNano())
	return !marked
}

// Unreachable reports whether the address is marked unreachable at now, and until when.
func (u *Upstream) Unreachable(now time.Time) (time.Time, bool) {
	until := u.until.Load()
	if until == 0 || now.UnixNano() >= until {
		return time.Time{}, false
	}
	return time.Unix(0, until), true
}

// RoundTrip implements http.RoundTripper.
func (u *Upstream) RoundTrip(req *http.Request) (*http.Response, error) {
	if !fastPathHandles(req) {
		return u.delegate(req)
	}
	ctx := req.Context()
	mc, reused, err := u.conn(ctx, false)
	if err != nil {
		return nil, err
	}
	resp, err := u.roundTrip(mc, req)
	var nothing nothingReceivedError
	if reused && errors.As(err, &nothing) && !IsTimeout(err) {
		// The member closed the idle connection before it saw the request: try a new one.
		if mc, err = u.dialConn(ctx); err != nil {
			return nil, err
		}
		resp, err = u.roundTrip(mc, req)
	}
	return resp, err
}

// fastPathHandles reports whether req is one the fast path exchanges itself: no body, no
// expectation or trailers, and a method that may be retried.
func fastPathHandles(req *http.Request) bool {
	return (req.Body == nil || req.Body == http.NoBody) && req.ContentLength == 0 &&
		len(req.TransferEncoding) == 0 && req.Trailer == nil && req.Header["Expect"] == nil &&
		req.URL.Scheme == "http" && isReplayable(req.Method)
}

func isReplayable(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// nothingReceivedError is a failure before any byte of an answer arrived.
type nothingReceivedError struct{ err error }

func (e nothingReceivedError) Error() string { return "before the member answered: " + e.err.Error() }
func (e nothingReceivedError) Unwrap() error { return e.err }

// roundTrip sends req on mc and reads the answer's head. The connection is closed when the
// request's context ends before the answer is complete; it goes back to the pool once the
// body was read to its end, if the answer allows keep-alive.
func (u *Upstream) roundTrip(mc *Conn, req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	stop := context.AfterFunc(ctx, func() { _ = mc.conn.Close() })
	resp, err := mc.exchange(req)
	if err != nil {
		stop()
		_ = mc.conn.Close()
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, err
	}
	b := &body{rc: resp.Body, u: u, mc: mc, stop: stop, keepAlive: !resp.Close}
	if resp.Body == http.NoBody {
		b.finish(io.EOF)
		return resp, nil
	}
	resp.Body = b
	return resp, nil
}

// conn returns an idle connection to the address, or a new one; reused says which. lend says
// that the connection is lent (Take), whose borrower sends with WriteThenWait.
func (u *Upstream) conn(ctx context.Context, lend bool) (*Conn, bool, error) {
	mc, reused := u.takeIdle(time.Now(), lend), true
	if mc == nil {
		var err error
		if mc, err = u.dialConn(ctx); err != nil {
			return nil, false, err
		}
		reused = false
	}
	mc.lent = lend
	return mc, reused, nil
}

// dialConn connects to the address; its errors are *dialError.
func (u *Upstream) dialConn(ctx context.Context) (*Conn, error) {
	c, err := u.dial(ctx, "tcp", u.address)
	if err != nil {
		return nil, err
	}
	mc := &Conn{conn: c, peek: peek.New(c), waiter: newWaiter(c), readTimeout: u.opts.ReadTimeout, writeTimeout: u.opts.WriteTimeout}
	mc.br = bufio.NewReaderSize(mc, connBufferSize)
	mc.bw = bufio.NewWriterSize(c, connBufferSize)
	return mc, nil
}

// takeIdle returns the most recently used idle connection that is still clean, or nil.
// Connections are pushed in the order they became idle, so when the newest has been idle too
// long, all have: they are closed. A connection on which the member sent anything while it
// was idle (an unsolicited answer, a body after a HEAD answer, or its close) is closed, never
// reused: those bytes would be read as the next client's answer. A connection lent to a
// borrower whose WriteThenWait makes that check itself (sendChecks) is not checked here.
func (u *Upstream) takeIdle(now time.Time, lend bool) *Conn {
	for {
		u.mu.Lock()
		n := len(u.idle)
		if n == 0 {
			u.mu.Unlock()
			return nil
		}
		mc := u.idle[n-1]
		if now.Sub(mc.idleSince) >= u.opts.IdleTimeout {
			expired := u.idle
			u.idle = nil
			u.mu.Unlock()
			closeAll(expired)
			return nil
		}
		u.idle[n-1] = nil
		u.idle = u.idle[:n-1]
		u.mu.Unlock()
		if now.After(mc.readUntil) {
			// The last exchange's read deadline has passed while the connection was idle; the
			// check reads, and would fail on it.
			_ = mc.conn.SetReadDeadline(time.Time{})
		}
		if lend && mc.sendChecks() || mc.peek.Idle() {
			return mc
		}
		_ = mc.conn.Close()
	}
}

// putIdle keeps mc for the next request, unless the pool is full or closed.
func (u *Upstream) putIdle(mc *Conn) {
	mc.idleSince = time.Now()
	u.mu.Lock()
	if u.closed || len(u.idle) >= u.opts.MaxIdle {
		u.mu.Unlock()
		_ = mc.conn.Close()
		return
	}
	u.idle = append(u.idle, mc)
	u.mu.Unlock()
}

// closeIdle closes the connections idle since before cutoff.
func (u *Upstream) closeIdle(cutoff time.Time) {
	u.mu.Lock()
	n := 0
	for n < len(u.idle) && u.idle[n].idleSince.Before(cutoff) {
		n++
	}
	expired := make([]*Conn, n)
	copy(expired, u.idle)
	u.idle = append(u.idle[:0], u.idle[n:]...)
	u.mu.Unlock()
	closeAll(expired)
}

// PruneIdle closes the connections idle longer than the idle timeout.
func (u *Upstream) PruneIdle(now time.Time) { u.closeIdle(now.Add(-u.opts.IdleTimeout)) }

// Close closes the idle connections and those that become idle later.
func (u *Upstream) Close() {
	u.mu.Lock()
	u.closed = true
	idle := u.idle
	u.idle = nil
	u.mu.Unlock()
	closeAll(idle)
}

// Closed reports whether the address left the table or the gateway shut down.
func (u *Upstream) Closed() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.closed
}

func closeAll(conns []*Conn) {
	for _, mc := range conns {
		_ = mc.conn.Close()
	}
}

// Conn is an HTTP/1.1 connection to a member with its buffers. Its reader reads through it
// so a response head is limited in size, unless it is lent (see Take).
type Conn struct {
	lent bool // the borrower sets deadlines; reads are not limited
	// ReadBy and WriteBy arm the deadlines of a borrower.
	ReadBy, WriteBy coarse.Lazy
	conn            net.Conn
	peek            *peek.Conn // tells whether the member sent anything while the connection was idle
	waiter          waiter
	br              *bufio.Reader
	bw              *bufio.Writer
	limit           int64 // bytes the reader may still read from conn
	idleSince       time.Time
	readUntil       time.Time // the read deadline last set
	readTimeout     time.Duration
	writeTimeout    time.Duration
}

// Read reads from the connection within the limit, waiting at most the read timeout.
func (mc *Conn) Read(p []byte) (int, error) {
	if mc.lent {
		return mc.conn.Read(p)
	}
	if mc.limit <= 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > mc.limit {
		p = p[:mc.limit]
	}
	mc.readUntil = time.Now().Add(mc.readTimeout)
	_ = mc.conn.SetReadDeadline(mc.readUntil)
	n, err := mc.conn.Read(p)
	mc.limit -= int64(n)
	return n, err
}

// exchange writes req and reads the answer's head. Errors before any byte of the answer
// arrived are nothingReceivedError.
func (mc *Conn) exchange(req *http.Request) (*http.Response, error) {
	mc.limit = maxResponseHeaderBytes
	_ = mc.conn.SetWriteDeadline(time.Now().Add(mc.writeTimeout))
	if err := req.Write(mc.bw); err != nil {
		return nil, nothingReceivedError{err}
	}
	if err := mc.bw.Flush(); err != nil {
		return nil, nothingReceivedError{err}
	}
	if _, err := mc.br.Peek(1); err != nil {
		return nil, nothingReceivedError{err}
	}
	resp, err := mc.readResponse(req)
	mc.limit = 1<<63 - 1 // the body is not limited
	return resp, err
}

// readResponse reads the final answer to req, passing 1xx answers but 100 Continue to the
// request's client trace (ReverseProxy forwards them), as http.Transport does.
func (mc *Conn) readResponse(req *http.Request) (*http.Response, error) {
	for range max1xxResponses + 1 {
		resp, err := http.ReadResponse(mc.br, req)
		if err != nil {
			return nil, err
		}
		switch code := resp.StatusCode; {
		case code == http.StatusSwitchingProtocols:
			return nil, errUnexpected101
		case code < 100 || code >= 200:
			return resp, nil
		case code != http.StatusContinue:
			if err := got1xx(req.Context(), code, resp.Header); err != nil {
				return nil, err
			}
		}
		mc.limit = maxResponseHeaderBytes
	}
	return nil, errTooMany1xx
}

// got1xx reports an informational answer to the request's client trace.
func got1xx(ctx context.Context, code int, h http.Header) error {
	if trace := httptrace.ContextClientTrace(ctx); trace != nil && trace.Got1xxResponse != nil {
		return trace.Got1xxResponse(code, textproto.MIMEHeader(h))
	}
	return nil
}

// body is the body of a fast-path answer. Reading it to the end returns the connection to the
// pool when the answer allows keep-alive; closing it earlier, or an error, closes the
// connection. ReverseProxy reads and closes it on one goroutine.
type body struct {
	rc        io.ReadCloser // http.ReadResponse's body
	u         *Upstream
	mc        *Conn
	stop      func() bool // stops closing the connection when the request's context ends
	keepAlive bool
	err       error // set when the body is done: io.EOF, a read error or errBodyClosed
}

// Read implements io.Reader.
func (b *body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.rc.Read(p)
	if err != nil {
		b.finish(err)
	}
	return n, err
}

// Close implements io.Closer.
func (b *body) Close() error {
	if b.err == nil {
		b.finish(errBodyClosed)
	}
	return nil
}

// finish ends the exchange with err: the connection goes back to the pool after a clean end of
// a keep-alive answer with nothing more buffered, and is closed otherwise.
func (b *body) finish(err error) {
	b.err = err
	stopped := b.stop()
	if errors.Is(err, io.EOF) && stopped && b.keepAlive && b.mc.br.Buffered() == 0 {
		b.u.putIdle(b.mc)
		return
	}
	_ = b.mc.conn.Close()
}

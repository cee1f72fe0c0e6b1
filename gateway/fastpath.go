package gateway

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
	"time"

	"github.com/stablering/stablering/gateway/peek"
)

// The fast path exchanges plain requests with a member on the handler's goroutine: it writes
// the request head on a pooled HTTP/1.1 connection and reads the answer with http.ReadResponse
// on the connection's own buffered reader. http.Transport runs two goroutines per connection
// and hands every request and response over channels; here a request crosses none.
//
// It handles requests without a body that may be sent twice (GET, HEAD, OPTIONS, TRACE), so a
// request whose pooled connection turns out to have been closed by the member can be retried
// on a new connection, as net/http does. Everything else (bodies, Expect: 100-continue,
// trailers, other methods) goes to the shared http.Transport.

// Limits of a member's answer, as in http.Transport.
const (
	maxResponseHeaderBytes = 1 << 20
	max1xxResponses        = 5
	connBufferSize         = 4 << 10
)

var (
	errHeaderTooLarge = errors.New("member's response header too large")
	errTooMany1xx     = errors.New("too many 1xx informational responses")
	errUnexpected101  = errors.New("101 Switching Protocols to a request that did not ask for it")
	errBodyClosed     = errors.New("read on a closed response body")
)

// fastTransport is the http.RoundTripper of one member address. It keeps the address's idle
// connections, most recently used last, and delegates what it does not handle to fallback.
type fastTransport struct {
	address      string
	dial         func(ctx context.Context, network, address string) (net.Conn, error)
	fallback     http.RoundTripper
	maxIdle      int
	idleTimeout  time.Duration
	readTimeout  time.Duration // MemberReadTimeout: first byte, then between reads
	writeTimeout time.Duration // SendTimeout: each write of a request

	mu     sync.Mutex
	idle   []*memberConn
	closed bool // the address left the table or the gateway shut down
}

func (g *Gateway) newFastTransport(address string) *fastTransport {
	return &fastTransport{
		address:      address,
		dial:         g.dial,
		fallback:     g.transport,
		maxIdle:      g.opts.MaxIdleConnsPerMember,
		idleTimeout:  g.opts.UpstreamIdleTimeout,
		readTimeout:  g.opts.MemberReadTimeout,
		writeTimeout: g.opts.SendTimeout,
	}
}

// RoundTrip implements http.RoundTripper.
func (t *fastTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !fastPathHandles(req) {
		return t.delegate(req)
	}
	ctx := req.Context()
	mc, reused, err := t.conn(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := t.roundTrip(mc, req)
	var nothing nothingReceivedError
	if reused && errors.As(err, &nothing) && !isTimeout(err) {
		// The member closed the idle connection before it saw the request: try a new one.
		if mc, err = t.dialConn(ctx); err != nil {
			return nil, err
		}
		resp, err = t.roundTrip(mc, req)
	}
	return resp, err
}

// errMemberStalled ends a delegated exchange whose member sent nothing for the read timeout
// in the middle of its answer.
var errMemberStalled = errors.New("member sent nothing for the read timeout")

// delegate sends req through the shared http.Transport, which bounds the wait for the answer's
// head (ResponseHeaderTimeout) and the writes of the request (sendTimeoutConn); the answer's
// body is read with the read timeout between reads, which http.Transport does not offer.
func (t *fastTransport) delegate(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	resp, err := t.fallback.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel(nil)
		return nil, err
	}
	b := &stallBody{ReadCloser: resp.Body, timeout: t.readTimeout, cancel: cancel}
	b.timer = time.AfterFunc(t.readTimeout, func() { cancel(errMemberStalled) })
	resp.Body = b
	return resp, nil
}

// stallBody is a delegated answer's body: each read must return within the timeout, or the
// exchange is cancelled.
type stallBody struct {
	io.ReadCloser
	timeout time.Duration
	timer   *time.Timer
	cancel  context.CancelCauseFunc
}

// Read reads the body and restarts the timeout.
func (b *stallBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.timer.Reset(b.timeout)
	return n, err
}

// Close closes the body and ends the exchange.
func (b *stallBody) Close() error {
	b.timer.Stop()
	err := b.ReadCloser.Close()
	b.cancel(nil)
	return err
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
func (t *fastTransport) roundTrip(mc *memberConn, req *http.Request) (*http.Response, error) {
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
	b := &body{rc: resp.Body, t: t, mc: mc, stop: stop, keepAlive: !resp.Close}
	if resp.Body == http.NoBody {
		b.finish(io.EOF)
		return resp, nil
	}
	resp.Body = b
	return resp, nil
}

// conn returns an idle connection to the address, or a new one; reused says which.
func (t *fastTransport) conn(ctx context.Context) (*memberConn, bool, error) {
	if mc := t.takeIdle(time.Now()); mc != nil {
		return mc, true, nil
	}
	mc, err := t.dialConn(ctx)
	return mc, false, err
}

// dialConn connects to the address; its errors are *dialError.
func (t *fastTransport) dialConn(ctx context.Context) (*memberConn, error) {
	c, err := t.dial(ctx, "tcp", t.address)
	if err != nil {
		return nil, err
	}
	mc := &memberConn{conn: c, peek: peek.New(c), readTimeout: t.readTimeout, writeTimeout: t.writeTimeout}
	mc.br = bufio.NewReaderSize(mc, connBufferSize)
	mc.bw = bufio.NewWriterSize(c, connBufferSize)
	return mc, nil
}

// takeIdle returns the most recently used idle connection that is still clean, or nil.
// Connections are pushed in the order they became idle, so when the newest has been idle too
// long, all have: they are closed. A connection on which the member sent anything while it
// was idle (an unsolicited answer, a body after a HEAD answer, or its close) is closed, never
// reused: those bytes would be read as the next client's answer.
func (t *fastTransport) takeIdle(now time.Time) *memberConn {
	for {
		t.mu.Lock()
		n := len(t.idle)
		if n == 0 {
			t.mu.Unlock()
			return nil
		}
		mc := t.idle[n-1]
		if now.Sub(mc.idleSince) >= t.idleTimeout {
			expired := t.idle
			t.idle = nil
			t.mu.Unlock()
			closeAll(expired)
			return nil
		}
		t.idle[n-1] = nil
		t.idle = t.idle[:n-1]
		t.mu.Unlock()
		if mc.peek.Idle() {
			return mc
		}
		_ = mc.conn.Close()
	}
}

// putIdle keeps mc for the next request, unless the pool is full or closed.
func (t *fastTransport) putIdle(mc *memberConn) {
	mc.idleSince = time.Now()
	t.mu.Lock()
	if t.closed || len(t.idle) >= t.maxIdle {
		t.mu.Unlock()
		_ = mc.conn.Close()
		return
	}
	t.idle = append(t.idle, mc)
	t.mu.Unlock()
}

// closeIdle closes the connections idle since before cutoff.
func (t *fastTransport) closeIdle(cutoff time.Time) {
	t.mu.Lock()
	n := 0
	for n < len(t.idle) && t.idle[n].idleSince.Before(cutoff) {
		n++
	}
	expired := make([]*memberConn, n)
	copy(expired, t.idle)
	t.idle = append(t.idle[:0], t.idle[n:]...)
	t.mu.Unlock()
	closeAll(expired)
}

// pruneIdle closes the connections idle longer than the idle timeout.
func (t *fastTransport) pruneIdle(now time.Time) { t.closeIdle(now.Add(-t.idleTimeout)) }

// close closes the idle connections and those that become idle later.
func (t *fastTransport) close() {
	t.mu.Lock()
	t.closed = true
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	closeAll(idle)
}

func closeAll(conns []*memberConn) {
	for _, mc := range conns {
		_ = mc.conn.Close()
	}
}

// memberConn is an HTTP/1.1 connection to a member with its buffers. Its reader reads
// through it so a response head is limited in size.
type memberConn struct {
	conn         net.Conn
	peek         *peek.Conn // tells whether the member sent anything while the connection was idle
	br           *bufio.Reader
	bw           *bufio.Writer
	limit        int64 // bytes the reader may still read from conn
	idleSince    time.Time
	readTimeout  time.Duration
	writeTimeout time.Duration
}

// Read reads from the connection within the limit, waiting at most the read timeout.
func (mc *memberConn) Read(p []byte) (int, error) {
	if mc.limit <= 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > mc.limit {
		p = p[:mc.limit]
	}
	_ = mc.conn.SetReadDeadline(time.Now().Add(mc.readTimeout))
	n, err := mc.conn.Read(p)
	mc.limit -= int64(n)
	return n, err
}

// exchange writes req and reads the answer's head. Errors before any byte of the answer
// arrived are nothingReceivedError.
func (mc *memberConn) exchange(req *http.Request) (*http.Response, error) {
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
func (mc *memberConn) readResponse(req *http.Request) (*http.Response, error) {
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
	t         *fastTransport
	mc        *memberConn
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
		b.t.putIdle(b.mc)
		return
	}
	_ = b.mc.conn.Close()
}

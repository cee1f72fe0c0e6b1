package upstream

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"time"
)

// NewFallback returns the transport shared by the upstreams for the requests they do not
// exchange themselves: HTTP/1.1 with keep-alive pools per address (bounded per address only),
// no transparent compression, the wait for an answer's head bounded by opts.ReadTimeout and
// each write by opts.WriteTimeout; dial's errors pass through (see Dialer).
func NewFallback(dial DialFunc, opts Options) *http.Transport {
	return &http.Transport{
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			c, err := dial(ctx, network, address)
			if err != nil {
				return nil, err
			}
			return &sendTimeoutConn{Conn: c, timeout: opts.WriteTimeout}, nil
		},
		ResponseHeaderTimeout: opts.ReadTimeout,
		MaxIdleConnsPerHost:   opts.MaxIdle,
		IdleConnTimeout:       opts.IdleTimeout,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
}

// sendTimeoutConn bounds each write by a timeout.
type sendTimeoutConn struct {
	net.Conn
	timeout time.Duration
}

func (c *sendTimeoutConn) Write(p []byte) (int, error) {
	_ = c.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.Conn.Write(p)
}

// errMemberStalled ends a delegated exchange whose member sent nothing for the read timeout
// in the middle of its answer.
var errMemberStalled = errors.New("member sent nothing for the read timeout")

// delegate sends req through the fallback transport, which bounds the wait for the answer's
// head and the writes of the request (NewFallback); the answer's body is read with the read
// timeout between reads, which http.Transport does not offer.
func (u *Upstream) delegate(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	resp, err := u.fallback.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel(nil)
		return nil, err
	}
	b := &stallBody{ReadCloser: resp.Body, timeout: u.opts.ReadTimeout, cancel: cancel}
	b.timer = time.AfterFunc(u.opts.ReadTimeout, func() { cancel(errMemberStalled) })
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

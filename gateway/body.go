package gateway

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/stablering/stablering/gateway/upstream"
)

// clientBody bounds each read of a request body by ClientBodyTimeout and remembers how reading
// it failed, so a failed exchange can be blamed on the client (408, 400) rather than the member.
type clientBody struct {
	io.ReadCloser
	deadline func(time.Time) error // the client connection's read deadline
	timeout  time.Duration
	prefix   []byte // read ahead by checkFraming, returned first

	mu   sync.Mutex
	done bool  // the body ended: no more deadlines, they would cut net/http's background read
	err  error // the first read error but io.EOF
}

// bodyReadAhead bounds what is read ahead of a chunked body, before the member is contacted,
// to check its framing.
const bodyReadAhead = 4 << 10

// wrapBody wraps r's body, if any, in a clientBody and returns it (nil without a body). Since
// net/http does not say whether a chunked request also carried Content-Length (a smuggling
// attempt, RFC 9112 section 6.1), the client connection is closed after every chunked request.
func (g *Gateway) wrapBody(w http.ResponseWriter, r *http.Request) *clientBody {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	b := &clientBody{ReadCloser: r.Body, timeout: g.opts.ClientBodyTimeout}
	b.deadline = http.NewResponseController(w).SetReadDeadline
	b.arm()
	r.Body = b
	if len(r.TransferEncoding) > 0 {
		w.Header()["Connection"] = connectionClose
	}
	return b
}

// checkFraming reads the first chunk of a chunked body ahead, unless the client waits for 100
// Continue, so that a malformed chunk size is answered 400 before the member sees the request.
func (b *clientBody) checkFraming(r *http.Request) refusal {
	if len(r.TransferEncoding) == 0 || r.Header["Expect"] != nil {
		return refusal{}
	}
	buf := make([]byte, bodyReadAhead)
	n, err := b.Read(buf)
	b.prefix = buf[:n]
	if err != nil && !errors.Is(err, io.EOF) {
		return b.refusal()
	}
	return refusal{}
}

var connectionClose = []string{"close"}

// Read reads the body, bounding the wait by the timeout.
func (b *clientBody) Read(p []byte) (int, error) {
	if len(b.prefix) > 0 {
		n := copy(p, b.prefix)
		b.prefix = b.prefix[n:]
		return n, nil
	}
	if b.ended() {
		return 0, io.EOF
	}
	b.arm()
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.mu.Lock()
		b.done = true
		if b.err == nil && !errors.Is(err, io.EOF) {
			b.err = err
		}
		b.mu.Unlock()
	}
	return n, err
}

// arm bounds the wait for the next bytes of the body, whoever reads them (net/http also reads
// what is left of a body before it writes an answer).
func (b *clientBody) arm() {
	if b.deadline != nil {
		_ = b.deadline(time.Now().Add(b.timeout))
	}
}

// ended reports whether the body was read to its end or failed.
func (b *clientBody) ended() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.done
}

// dropBody is called before the gateway answers a request itself, without reading the rest
// of its body. net/http reads what is left of a body before and after the answer, so that the
// connection can carry another request; a read deadline of now lets it take what has already
// arrived and close the connection otherwise, instead of waiting for a client that may never
// send the rest.
func dropBody(r *http.Request) {
	if b := bodyOf(r); b != nil && !b.ended() && b.deadline != nil {
		_ = b.deadline(time.Now())
	}
}

// failed returns the error reading the body failed with, or nil.
func (b *clientBody) failed() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// refusal is the answer to a client whose body could not be read: 408 when it stopped
// sending, 400 when its framing is malformed, and none (499, nothing written) when the
// connection ended.
func (b *clientBody) refusal() refusal {
	err := b.failed()
	switch {
	case err == nil:
		return refusal{}
	case upstream.IsTimeout(err):
		return refusal{http.StatusRequestTimeout, "the request body did not arrive in time", true}
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, new(*net.OpError)):
		return refusal{status: statusClientClosed}
	default:
		return refusal{http.StatusBadRequest, "the request body is malformed: " + err.Error(), true}
	}
}

// bodyOf returns r's clientBody, or nil.
func bodyOf(r *http.Request) *clientBody {
	b, _ := r.Body.(*clientBody)
	return b
}

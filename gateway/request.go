package gateway

import (
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/stablering/stablering/gateway/upstream"
)

// This file screens a request before it is routed: the limits of its head, the headers the
// gateway drops, protocol switches it refuses, the normal form of its path, and the bounds on
// reading its body.

// refusal is the gateway's answer to a request it will not route; zero status routes it.
type refusal struct {
	status int
	why    string
	close  bool // close the client connection after the answer
}

// screen checks and normalises r. It drops header fields whose names contain an underscore
// (as nginx does by default: CGI-style members read X_Room and X-Room alike), refuses more
// than MaxHeaders fields with 431, strips an h2c upgrade so the request is proxied as plain
// HTTP/1.1 (the gateway does not switch a member's connection to HTTP/2), refuses
// percent-encoded slashes in the path with 400 and resolves dot segments, so the path matched
// against pathPrefix is the path the member gets. It returns the request to route, which is r
// or a copy with a new URL.
func (g *Gateway) screen(r *http.Request) (*http.Request, refusal) {
	n := 0
	for name, values := range r.Header {
		n += len(values)
		if strings.IndexByte(name, '_') >= 0 {
			delete(r.Header, name)
		}
	}
	if n > g.opts.MaxHeaders {
		return r, refusal{status: http.StatusRequestHeaderFieldsTooLarge,
			why: "the request has more header fields than the gateway's limit"}
	}
	if httpguts.HeaderValuesContainsToken(r.Header["Upgrade"], "h2c") {
		stripH2CUpgrade(r.Header)
	}
	if hasEncodedSlash(r.URL.RawPath) {
		return r, refusal{status: http.StatusBadRequest,
			why: "the request path contains a percent-encoded slash or backslash"}
	}
	if clean, changed := removeDotSegments(r.URL.Path); changed {
		u := *r.URL
		u.Path, u.RawPath = clean, ""
		r2 := *r
		r2.URL = &u
		return &r2, refusal{}
	}
	return r, refusal{}
}

// stripH2CUpgrade removes an h2c upgrade offer (Upgrade, HTTP2-Settings and their Connection
// tokens) from h.
func stripH2CUpgrade(h http.Header) {
	delete(h, "Upgrade")
	delete(h, "Http2-Settings")
	delete(h, "Connection")
}

// hasEncodedSlash reports whether an escaped path contains %2F or %5C (either case).
func hasEncodedSlash(raw string) bool {
	for i := strings.IndexByte(raw, '%'); i >= 0 && i+2 < len(raw); {
		if e := raw[i+1 : i+3]; strings.EqualFold(e, "2f") || strings.EqualFold(e, "5c") {
			return true
		}
		next := strings.IndexByte(raw[i+1:], '%')
		if next < 0 {
			break
		}
		i += 1 + next
	}
	return false
}

// removeDotSegments resolves the "." and ".." segments of an absolute path as RFC 3986
// section 5.2.4 does, keeping empty segments and a trailing slash; changed is false (and no
// allocation made) when the path has none.
func removeDotSegments(p string) (string, bool) {
	if !hasDotSegment(p) {
		return p, false
	}
	var out []string
	segs := strings.Split(p, "/")[1:] // p starts with "/"
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case ".":
			if last {
				out = append(out, "")
			}
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	return "/" + strings.Join(out, "/"), true
}

// hasDotSegment reports whether a path has a segment that is "." or "..".
func hasDotSegment(p string) bool {
	for i := 0; i < len(p); {
		j := strings.IndexByte(p[i:], '/')
		var seg string
		if j < 0 {
			seg, i = p[i:], len(p)
		} else {
			seg, i = p[i:i+j], i+j+1
		}
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// clientBody bounds each read of a request body by ClientBodyTimeout and remembers how reading
// it failed, so a failed exchange can be blamed on the client (408, 400) rather than the member.
type clientBody struct {
	io.ReadCloser
	deadline func(time.Time) error // the client connection's read deadline
	timeout  time.Duration
	prefix   []byte // read ahead by validate, returned first

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

// Package h1 parses HTTP/1.1 message heads in place, for the gateway's own serving path: a
// request head is checked and indexed in the buffer it was read into, and a member's answer
// head likewise, so that the common request crosses the gateway without a copy of its header
// into maps or strings.
//
// The request parser is deliberately narrow and strict. It takes only what it can forward
// exactly as net/http would (see ParseRequest) and says Other for everything else, which the
// gateway then hands, with the bytes already read, to net/http's server and its screening.
// It never accepts what net/http rejects and never frames a body differently: a differential
// fuzz test holds it to that.
package h1

import (
	"bytes"
	"unsafe"

	"golang.org/x/net/http/httpguts"
)

// Verdict is what ParseRequest made of a buffer.
type Verdict uint8

const (
	// Incomplete: no end of the head yet, and nothing seen so far rules the request out.
	Incomplete Verdict = iota
	// Simple: a complete head the gateway's own path takes; Request describes it.
	Simple
	// Other: anything else (a body, an upgrade but to WebSocket, another method or version,
	// anything unusual);
	// it goes to net/http's server with the bytes read so far.
	Other
)

// Kind says what a field of a request is to the gateway.
type Kind uint8

const (
	// Plain fields are forwarded as they are.
	Plain Kind = iota
	// Drop fields are not forwarded: hop-by-hop fields, and names with an underscore.
	Drop
	// Host is the Host field.
	Host
	// XForwardedFor, XForwardedHost, XForwardedProto and Forwarded are the forwarding fields,
	// kept or replaced according to the gateway's trust.
	XForwardedFor
	XForwardedHost
	XForwardedProto
	Forwarded
)

// Span is a range of the head's bytes.
type Span struct{ Start, End int32 }

// Field is a header field line: its name as sent and its value without surrounding blanks.
type Field struct {
	Line  Span // the whole line, CRLF included
	Name  Span
	Value Span
	Kind  Kind
	// Underscore: the name holds '_'; such fields are dropped and invisible to routing.
	Underscore bool
}

// Request is a request head parsed in place. Its strings point into the buffer given to
// ParseRequest: they are valid until that buffer is reused, which the caller must not do
// before it is done with the request (routing decisions included).
type Request struct {
	head []byte
	// line is the request line, CRLF included; method, target, path and query are parts of
	// it (query without '?'); host is the Host field's value.
	line, method, target, path, query, host Span
	// Fields are the header fields in order, Host included.
	Fields []Field
	// Close: the client asked to close the connection after this request.
	Close bool
	// Upgrade: a WebSocket handshake; UpgradeValue is its Upgrade field's value.
	Upgrade      bool
	UpgradeValue Span
	upgrades     int  // Upgrade fields
	connUpgrade  bool // Connection names upgrade
	// Len is the length of the head, its final empty line included.
	Len int
}

// ParseRequest parses the request head at the start of b into r, whose Fields keep their
// capacity across calls. maxFields bounds the header fields other than Host (more are Other,
// for net/http to refuse with 431).
//
// It says Simple only for a head that is, byte for byte, all of: HTTP/1.1; GET, HEAD or
// OPTIONS with an origin-form target whose path has only unreserved characters and '$', '&',
// '+', ',', '/', ':', ';', '=', '@' (so it needs no decoding and has no encoded slash), no
// "." or ".." segment, and a query of visible ASCII without '#'; CRLF line ends; field names
// of token characters followed at once by ':', values without control characters; exactly one
// valid, non-empty Host; no Content-Length, Transfer-Encoding, Expect, TE, Trailer or
// HTTP2-Settings; a Connection field naming only close, keep-alive or upgrade. With one
// Upgrade field and Connection naming upgrade, it is a WebSocket handshake (Upgrade set): a
// GET whose Upgrade field says websocket; any other use of either is Other.
func ParseRequest(b []byte, maxFields int, r *Request) Verdict {
	*r = Request{head: b, Fields: r.Fields[:0]}
	line, next, v := nextLine(b, 0)
	if v != Simple {
		return v
	}
	r.line = Span{0, int32(next)}
	if !r.requestLine(b[:line]) {
		return Other
	}
	hosts, counted := 0, 0
	for {
		start := next
		end, after, v := nextLine(b, start)
		if v != Simple {
			return v
		}
		next = after
		if end == start { // the empty line
			r.Len = after
			break
		}
		f, ok := parseField(b, start, end, after)
		if !ok {
			return Other
		}
		if !r.classify(&f) {
			return Other
		}
		if f.Kind == Host {
			hosts++
			r.host = f.Value
		} else {
			counted++
		}
		r.Fields = append(r.Fields, f)
	}
	if hosts != 1 || counted > maxFields || r.host.End == r.host.Start ||
		!httpguts.ValidHostHeader(r.str(r.host)) {
		return Other
	}
	if r.upgrades > 0 || r.connUpgrade {
		if r.upgrades != 1 || !r.connUpgrade || r.Method() != "GET" ||
			!equalFold(r.Bytes(r.UpgradeValue), "websocket") {
			return Other
		}
		r.Upgrade = true
	}
	return Simple
}

// nextLine finds the line of b starting at start: the index of its CR and of the byte after
// its LF. A line ending in a bare LF, or a CR not followed by LF, is Other.
func nextLine(b []byte, start int) (end, next int, v Verdict) {
	i := bytes.IndexByte(b[start:], '\n')
	if i < 0 {
		if j := bytes.IndexByte(b[start:], '\r'); j >= 0 && start+j+1 < len(b) {
			return 0, 0, Other // a CR followed by something else than LF
		}
		return 0, 0, Incomplete
	}
	lf := start + i
	if lf == start || b[lf-1] != '\r' {
		return 0, 0, Other
	}
	if bytes.IndexByte(b[start:lf-1], '\r') >= 0 {
		return 0, 0, Other
	}
	return lf - 1, lf + 1, Simple
}

// requestLine parses "METHOD SP target SP HTTP/1.1".
func (r *Request) requestLine(l []byte) bool {
	sp := bytes.IndexByte(l, ' ')
	if sp < 0 {
		return false
	}
	switch string(l[:sp]) {
	case "GET", "HEAD", "OPTIONS":
	default:
		return false
	}
	r.method = Span{0, int32(sp)}
	rest := l[sp+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 < 0 || string(rest[sp2+1:]) != "HTTP/1.1" {
		return false
	}
	target := rest[:sp2]
	ts := int32(sp + 1)
	r.target = Span{ts, ts + int32(len(target))}
	if len(target) == 0 || target[0] != '/' {
		return false
	}
	q := bytes.IndexByte(target, '?')
	path := target
	r.query = Span{r.target.End, r.target.End}
	if q >= 0 {
		path = target[:q]
		r.query = Span{ts + int32(q) + 1, r.target.End}
		for _, c := range target[q+1:] {
			if c <= ' ' || c >= 0x7f || c == '#' {
				return false
			}
		}
	}
	r.path = Span{ts, ts + int32(len(path))}
	for _, c := range path {
		if !pathByte[c] {
			return false
		}
	}
	return !hasDotSegment(path)
}

// hasDotSegment reports whether path has a "." or ".." segment.
func hasDotSegment(path []byte) bool {
	for seg := range bytes.SplitSeq(path, []byte("/")) {
		if len(seg) == 1 && seg[0] == '.' || len(seg) == 2 && seg[0] == '.' && seg[1] == '.' {
			return true
		}
	}
	return false
}

// parseField parses the field line b[start:end] (after: past its LF).
func parseField(b []byte, start, end, after int) (Field, bool) {
	l := b[start:end]
	colon := bytes.IndexByte(l, ':')
	if colon <= 0 {
		return Field{}, false // no name, or obs-fold (a line starting with a blank has no token)
	}
	f := Field{Line: Span{int32(start), int32(after)}, Name: Span{int32(start), int32(start + colon)}}
	for _, c := range l[:colon] {
		if !httpguts.IsTokenRune(rune(c)) {
			return Field{}, false
		}
		if c == '_' {
			f.Underscore = true
		}
	}
	vs, ve := colon+1, len(l)
	for vs < ve && (l[vs] == ' ' || l[vs] == '\t') {
		vs++
	}
	for ve > vs && (l[ve-1] == ' ' || l[ve-1] == '\t') {
		ve--
	}
	for _, c := range l[vs:ve] {
		if c < ' ' && c != '\t' || c == 0x7f {
			return Field{}, false
		}
	}
	f.Value = Span{int32(start + vs), int32(start + ve)}
	return f, true
}

// classify sets f.Kind, and reports false for a field that makes the request Other.
func (r *Request) classify(f *Field) bool {
	name := r.head[f.Name.Start:f.Name.End]
	if f.Underscore {
		f.Kind = Drop
		return true
	}
	switch {
	case equalFold(name, "Host"):
		f.Kind = Host
	case equalFold(name, "Connection"):
		f.Kind = Drop
		return r.connection(r.head[f.Value.Start:f.Value.End])
	case equalFold(name, "Keep-Alive"), equalFold(name, "Proxy-Connection"),
		equalFold(name, "Proxy-Authorization"), equalFold(name, "Proxy-Authenticate"):
		f.Kind = Drop
	case equalFold(name, "X-Forwarded-For"):
		f.Kind = XForwardedFor
	case equalFold(name, "X-Forwarded-Host"):
		f.Kind = XForwardedHost
	case equalFold(name, "X-Forwarded-Proto"):
		f.Kind = XForwardedProto
	case equalFold(name, "Forwarded"):
		f.Kind = Forwarded
	case equalFold(name, "Upgrade"):
		f.Kind = Drop
		r.upgrades++
		r.UpgradeValue = f.Value
	case equalFold(name, "Content-Length"), equalFold(name, "Transfer-Encoding"), equalFold(name, "Expect"),
		equalFold(name, "Te"), equalFold(name, "Trailer"), equalFold(name, "Http2-Settings"):
		return false
	}
	return true
}

// connection reads a Connection value: only close, keep-alive and upgrade are taken.
func (r *Request) connection(v []byte) bool {
	for tok := range bytes.SplitSeq(v, []byte(",")) {
		tok = bytes.Trim(tok, " \t")
		switch {
		case len(tok) == 0:
		case equalFold(tok, "close"):
			r.Close = true
		case equalFold(tok, "keep-alive"):
		case equalFold(tok, "upgrade"):
			r.connUpgrade = true
		default:
			return false
		}
	}
	return true
}

// Bytes returns the bytes of s.
func (r *Request) Bytes(s Span) []byte { return r.head[s.Start:s.End] }

// Line returns the request line, CRLF included.
func (r *Request) Line() []byte { return r.Bytes(r.line) }

// Method returns the request's method.
func (r *Request) Method() string { return r.str(r.method) }

// str returns s as a string sharing the head's memory (see Request).
func (r *Request) str(s Span) string {
	if s.End == s.Start {
		return ""
	}
	return unsafe.String(&r.head[s.Start], int(s.End-s.Start))
}

// Host implements route.Request.
func (r *Request) Host() string { return r.str(r.host) }

// Path implements route.Request: the path needs no decoding.
func (r *Request) Path() string { return r.str(r.path) }

// RawPath implements route.Request: always "", the path being in its default encoding.
func (r *Request) RawPath() string { return "" }

// RawQuery implements route.Request.
func (r *Request) RawQuery() string { return r.str(r.query) }

// HeaderValue implements route.Request: line i of the fields named name (any case), fields
// with an underscore in their name excluded as the gateway drops them.
func (r *Request) HeaderValue(name string, i int) (string, bool) {
	for k := range r.Fields {
		f := &r.Fields[k]
		if f.Underscore || f.Kind == Host || !equalFold(r.head[f.Name.Start:f.Name.End], name) {
			continue
		}
		if i == 0 {
			return r.str(f.Value), true
		}
		i--
	}
	return "", false
}

// equalFold reports whether b equals s, ignoring ASCII case.
func equalFold[S ~string | ~[]byte](b []byte, s S) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// pathByte marks the bytes a Simple path may hold: those net/url neither decodes nor
// escapes in a path (RFC 3986 unreserved, and the reserved characters it keeps in paths).
var pathByte = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "-._~$&+,/:;=@" {
		t[c] = true
	}
	return t
}()

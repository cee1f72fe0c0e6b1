package h1

import (
	"bytes"
	"errors"
)

// Framing is how the body of an answer ends.
type Framing uint8

const (
	// NoBody: the answer has none (HEAD, 1xx, 204, 304).
	NoBody Framing = iota
	// Length: Content-Length bytes.
	Length
	// Chunked: chunked transfer coding, trailers included (see Chunks).
	Chunked
	// UntilClose: the member closes the connection at its end.
	UntilClose
)

// Errors of a member's answer head; the gateway answers 502 for them.
var (
	ErrMalformed    = errors.New("malformed response head")
	ErrFraming      = errors.New("ambiguous or unsupported response framing")
	ErrHeadTooLarge = errors.New("response head too large")
	ErrChunks       = errors.New("malformed chunked body")
)

// Response is an answer head parsed in place.
type Response struct {
	head []byte
	// Code is the status code.
	Code int
	// Status is the status line after "HTTP/1.x ", CRLF included ("200 OK\r\n").
	Status Span
	// Fields are the header fields in order; Drop marks the hop-by-hop ones.
	Fields []Field
	// Framing and Length (for Length) say where the body ends.
	Framing Framing
	Length  int64
	// KeepAlive: the connection may carry another request after this answer.
	KeepAlive bool
	// Upgrade is the Upgrade field's value (one field, or the last); ConnUpgrade says that
	// Connection names upgrade. A 101 answer switches only with both.
	Upgrade     Span
	ConnUpgrade bool
	// Len is the length of the head.
	Len int
}

// maxConnectionTokens bounds the fields a Connection field of an answer may name.
const maxConnectionTokens = 8

// ParseResponse parses the answer head at the start of b into resp, for a request whose
// method was HEAD when head is true. It returns false with a nil error while the head is
// incomplete. Content-Length and Transfer-Encoding: chunked together, chunked in HTTP/1.0, differing
// Content-Lengths, another transfer coding, obs-fold and bare LF are errors.
func ParseResponse(b []byte, head bool, resp *Response) (bool, error) {
	*resp = Response{head: b, Fields: resp.Fields[:0]}
	end, next, ok, err := responseLine(b, 0)
	if !ok {
		return false, err
	}
	l := b[:end]
	if len(l) < 12 || !bytes.HasPrefix(l, []byte("HTTP/1.")) || (l[7] != '1' && l[7] != '0') || l[8] != ' ' ||
		(len(l) > 12 && l[12] != ' ') {
		return false, ErrMalformed
	}
	for _, c := range l[9:12] {
		if c < '0' || c > '9' {
			return false, ErrMalformed
		}
		resp.Code = resp.Code*10 + int(c-'0')
	}
	for _, c := range l[12:] {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false, ErrMalformed
		}
	}
	if resp.Code < 100 {
		return false, ErrMalformed
	}
	resp.Status = Span{9, int32(next)}
	http11 := l[7] == '1'
	keepAlive, closes := false, false
	var tokens [maxConnectionTokens][]byte
	nt := 0
	chunked, lengths := false, 0
	resp.Length = -1
	for {
		start := next
		end, after, ok, err := responseLine(b, start)
		if !ok {
			return false, err
		}
		next = after
		if end == start {
			resp.Len = after
			break
		}
		f, ok := parseField(b, start, end, after)
		if !ok {
			return false, ErrMalformed
		}
		name, value := b[f.Name.Start:f.Name.End], b[f.Value.Start:f.Value.End]
		switch {
		case equalFold(name, "Content-Length"):
			n, ok := parseLength(value)
			if !ok || (lengths > 0 && n != resp.Length) {
				return false, ErrFraming
			}
			resp.Length = n
			lengths++
		case equalFold(name, "Transfer-Encoding"):
			if chunked || !equalFold(value, "chunked") {
				return false, ErrFraming
			}
			chunked = true
		case equalFold(name, "Connection"):
			f.Kind = Drop
			for tok := range bytes.SplitSeq(value, []byte(",")) {
				tok = bytes.Trim(tok, " \t")
				switch {
				case len(tok) == 0:
				case equalFold(tok, "close"):
					closes = true
				case equalFold(tok, "keep-alive"):
					keepAlive = true
				case equalFold(tok, "upgrade"):
					resp.ConnUpgrade = true
				case nt < len(tokens):
					tokens[nt] = tok
					nt++
				default:
					return false, ErrMalformed
				}
			}
		case equalFold(name, "Upgrade"):
			f.Kind = Drop
			resp.Upgrade = f.Value
		case equalFold(name, "Keep-Alive"), equalFold(name, "Proxy-Connection"):
			f.Kind = Drop
		}
		resp.Fields = append(resp.Fields, f)
	}
	for i := range resp.Fields {
		f := &resp.Fields[i]
		for _, tok := range tokens[:nt] {
			if equalFold(tok, b[f.Name.Start:f.Name.End]) {
				f.Kind = Drop
			}
		}
	}
	if chunked && (lengths > 0 || !http11) {
		return false, ErrFraming
	}
	resp.KeepAlive = !closes && (http11 || keepAlive)
	switch {
	case head || resp.Code < 200 || resp.Code == 204 || resp.Code == 304:
		resp.Framing = NoBody
	case chunked:
		resp.Framing = Chunked
	case lengths > 0:
		resp.Framing = Length
	default:
		resp.Framing = UntilClose
		resp.KeepAlive = false
	}
	return true, nil
}

// responseLine finds the line of an answer head starting at start (see nextLine): ok false
// with a nil error when it is incomplete, ErrMalformed when it ends badly.
func responseLine(b []byte, start int) (end, next int, ok bool, err error) {
	end, next, v := nextLine(b, start)
	switch v {
	case Incomplete:
		return 0, 0, false, nil
	case Other:
		return 0, 0, false, ErrMalformed
	case Simple:
	}
	return end, next, true, nil
}

// SwitchesTo reports whether the answer switches to protocol: Connection names upgrade and
// Upgrade names protocol, in any case.
func (r *Response) SwitchesTo(protocol []byte) bool {
	return r.ConnUpgrade && equalFold(r.Bytes(r.Upgrade), protocol)
}

// parseLength parses a Content-Length value: 1 to 18 digits.
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// Bytes returns the bytes of s.
func (r *Response) Bytes(s Span) []byte { return r.head[s.Start:s.End] }

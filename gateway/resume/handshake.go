package resume

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
)

// The headers of the resume protocol between a gateway and a member.
const (
	// HeaderResumable is on every WebSocket handshake the gateway sends to a member of a ring
	// with resume on: the member may answer its 101 with HeaderToken to make the connection
	// resumable.
	HeaderResumable = "StableRing-Resumable"
	// HeaderToken is the member's token for the connection, in its 101 answer: whatever it needs
	// to continue the connection in another process (at most MaxTokenBytes of visible ASCII).
	HeaderToken = "StableRing-Resume-Token"
	// HeaderResume marks a handshake as a resume and carries the connection's token.
	HeaderResume = "StableRing-Resume"
	// HeaderClientMessages is the number of whole messages from the client that the members
	// of the connection received so far.
	HeaderClientMessages = "StableRing-Resume-Client-Messages"
	// HeaderMemberMessages is the number of whole messages from the members that the client
	// received so far.
	HeaderMemberMessages = "StableRing-Resume-Member-Messages"
)

// MaxTokenBytes bounds a member's token.
const MaxTokenBytes = 512

// Counts are the whole messages delivered each way over a connection's life.
type Counts struct {
	ToMember, ToClient uint64
}

// Handshake is what a member's 101 answer negotiated: what a resume must negotiate again.
type Handshake struct {
	Accept     string // Sec-WebSocket-Accept
	Protocol   string // Sec-WebSocket-Protocol
	Extensions string // Sec-WebSocket-Extensions, the values joined
	Token      string // HeaderToken
}

// NewHandshake reads a Handshake from a 101 answer's header.
func NewHandshake(h http.Header) Handshake {
	return Handshake{
		Accept:     h.Get("Sec-WebSocket-Accept"),
		Protocol:   strings.Join(h.Values("Sec-WebSocket-Protocol"), ", "),
		Extensions: strings.Join(h.Values("Sec-WebSocket-Extensions"), ", "),
		Token:      h.Get(HeaderToken),
	}
}

// Resumable reports whether a connection that negotiated hs can move to another process: the
// member gave a valid token, and no extension keeps state across messages. permessage-deflate
// keeps its compression window unless both sides give it up (client_no_context_takeover and
// server_no_context_takeover); a new process would not have it.
func (hs Handshake) Resumable() bool {
	return validToken(hs.Token) && statelessExtensions(hs.Extensions)
}

// Matches reports whether a resume's answer negotiated what the original answer did.
func (hs Handshake) Matches(orig Handshake) bool {
	return hs.Accept == orig.Accept && hs.Protocol == orig.Protocol && hs.Extensions == orig.Extensions
}

func validToken(t string) bool {
	if t == "" || len(t) > MaxTokenBytes {
		return false
	}
	for i := range len(t) {
		if t[i] < 0x21 || t[i] > 0x7E {
			return false
		}
	}
	return true
}

func statelessExtensions(ext string) bool {
	if strings.TrimSpace(ext) == "" {
		return true
	}
	for e := range strings.SplitSeq(ext, ",") {
		params := strings.Split(e, ";")
		if strings.TrimSpace(params[0]) != "permessage-deflate" {
			return false
		}
		var client, server bool
		for _, p := range params[1:] {
			switch strings.TrimSpace(p) {
			case "client_no_context_takeover":
				client = true
			case "server_no_context_takeover":
				server = true
			}
		}
		if !client || !server {
			return false
		}
	}
	return true
}

// Request returns the handshake head that resumes a connection: head, the original handshake
// as the gateway sent it to the member, without HeaderResumable, with HeaderResume and the
// counts.
func Request(head []byte, token string, c Counts) []byte {
	body, ok := bytes.CutSuffix(head, []byte("\r\n\r\n"))
	if !ok {
		return nil
	}
	out := make([]byte, 0, len(head)+len(token)+128)
	for i, line := range bytes.Split(body, []byte("\r\n")) {
		if i > 0 && isField(line, HeaderResumable) {
			continue
		}
		out = append(out, line...)
		out = append(out, "\r\n"...)
	}
	out = append(out, HeaderResume+": "...)
	out = append(out, token...)
	out = append(out, "\r\n"+HeaderClientMessages+": "...)
	out = strconv.AppendUint(out, c.ToMember, 10)
	out = append(out, "\r\n"+HeaderMemberMessages+": "...)
	out = strconv.AppendUint(out, c.ToClient, 10)
	return append(out, "\r\n\r\n"...)
}

// isField reports whether line is a header field named name.
func isField(line []byte, name string) bool {
	n, _, ok := bytes.Cut(line, []byte(":"))
	return ok && strings.EqualFold(string(n), name)
}

// Forged reports whether a client's request header carries fields of the resume protocol,
// which only a gateway may send: a ring with resume on refuses such requests.
func Forged(h http.Header) bool {
	for k := range h {
		if ForgedField(k) {
			return true
		}
	}
	return false
}

// ForgedField reports whether a field named name belongs to the resume protocol.
func ForgedField(name string) bool {
	return len(name) >= len(fieldPrefix) && strings.EqualFold(name[:len(fieldPrefix)], fieldPrefix)
}

// fieldPrefix begins the name of every field of the resume protocol.
const fieldPrefix = "StableRing-Resum"

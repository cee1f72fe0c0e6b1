package gateway

import "github.com/stablering/stablering/gateway/h1"

// This file holds what both HTTP/1.1 paths of the gateway's own (the goroutines' in
// h1proxy.go, the event loops' in loopconn_linux.go) write and read the same way: the request
// head for the member, the answer head for the client, and the answer body's framing.

// h1Buffers are what a request of either path is read, parsed and written with: the client's
// bytes, the request and answer heads parsed in place, the head for the member and what goes
// to the client. They are kept from one request or connection to the next.
type h1Buffers struct {
	buf    []byte // the client's bytes: buf[:n] read and not yet served
	n      int
	req    h1.Request
	resp   h1.Response
	head   []byte // the request head for the member
	out    []byte // what is written to the client next
	answer answerWriter
}

// newH1Buffers returns buffers whose read buffer holds h1BufferSize bytes, or maxHeaderBytes
// if that is less.
func newH1Buffers(maxHeaderBytes int) h1Buffers {
	return h1Buffers{buf: make([]byte, min(h1BufferSize, maxHeaderBytes))}
}

// emptied returns the buffers emptied, their memory kept.
func (b *h1Buffers) emptied() h1Buffers {
	return h1Buffers{
		buf:    b.buf,
		req:    h1.Request{Fields: b.req.Fields[:0]},
		resp:   h1.Response{Fields: b.resp.Fields[:0]},
		head:   b.head[:0],
		out:    b.out[:0],
		answer: answerWriter{header: b.answer.header, body: b.answer.body[:0]},
	}
}

// appendMemberHead appends the request head for the member to h: the request line and the
// fields of r as sent, without the hop-by-hop ones (and those with an underscore in their
// name); the forwarding fields as setForwarded does for net/http's path, remote being the
// client's IP; for a WebSocket handshake, Connection: Upgrade and its Upgrade field.
func appendMemberHead(h []byte, r *h1.Request, remote string, trust bool) []byte {
	h = append(h, r.Line()...)
	xfHost, xfProto := false, false
	for i := range r.Fields {
		f := &r.Fields[i]
		switch f.Kind {
		case h1.Plain, h1.Host:
			h = append(h, r.Bytes(f.Line)...)
		case h1.XForwardedHost, h1.XForwardedProto, h1.Forwarded:
			if trust {
				h = append(h, r.Bytes(f.Line)...)
				xfHost = xfHost || f.Kind == h1.XForwardedHost
				xfProto = xfProto || f.Kind == h1.XForwardedProto
			}
		case h1.XForwardedFor, h1.Drop:
		}
	}
	if remote != "" {
		h = append(h, "X-Forwarded-For: "...)
		for i := range r.Fields {
			if f := &r.Fields[i]; trust && f.Kind == h1.XForwardedFor {
				h = append(h, r.Bytes(f.Value)...)
				h = append(h, ", "...)
			}
		}
		h = append(h, remote...)
		h = append(h, "\r\n"...)
	}
	if !xfHost {
		h = append(h, "X-Forwarded-Host: "...)
		h = append(h, r.Host()...)
		h = append(h, "\r\n"...)
	}
	if !xfProto {
		h = append(h, "X-Forwarded-Proto: http\r\n"...)
	}
	if r.Upgrade {
		h = append(h, "Connection: Upgrade\r\nUpgrade: "...)
		h = append(h, r.Bytes(r.UpgradeValue)...)
		h = append(h, "\r\n"...)
	}
	return append(h, "\r\n"...)
}

// appendAnswerHead appends the head of the answer resp for the client to out: HTTP/1.1 and
// the member's status, its fields but the hop-by-hop ones, the member header (memberHeader,
// canonical, empty for none) naming sl's member, and Connection: close unless keep;
// Connection: Upgrade and Upgrade for a switch to the protocol upgrade.
func appendAnswerHead(out []byte, resp *h1.Response, memberHeader string, sl slot, keep bool, upgrade []byte) []byte {
	out = append(out, "HTTP/1.1 "...)
	out = append(out, resp.Bytes(resp.Status)...)
	for i := range resp.Fields {
		if f := &resp.Fields[i]; f.Kind != h1.Drop {
			out = append(out, resp.Bytes(f.Line)...)
		}
	}
	if memberHeader != "" {
		out = append(out, memberHeader...)
		out = append(out, ": "...)
		out = append(out, sl.member.header[0]...)
		out = append(out, "\r\n"...)
	}
	switch {
	case upgrade != nil:
		out = append(out, "Connection: Upgrade\r\nUpgrade: "...)
		out = append(out, upgrade...)
		out = append(out, "\r\n"...)
	case !keep:
		out = append(out, "Connection: close\r\n"...)
	}
	return append(out, "\r\n"...)
}

// bodyFramer finds the end of an answer's body in the bytes relayed, by the answer's framing.
type bodyFramer struct {
	framing h1.Framing
	left    int64 // bytes of a Length body still to come
	chunks  h1.Chunks
}

func newBodyFramer(resp *h1.Response) bodyFramer {
	return bodyFramer{framing: resp.Framing, left: resp.Length}
}

// ended reports whether the body has ended (or there is none).
func (b *bodyFramer) ended() bool {
	return b.framing == h1.NoBody || b.framing == h1.Length && b.left == 0
}

// feed takes the next bytes of the body from p: how many are the body's (the rest, if any,
// is not), and whether they end it; an error for malformed chunks. A body that lasts until
// the member closes takes all of p and never ends.
func (b *bodyFramer) feed(p []byte) (n int, done bool, err error) {
	switch b.framing {
	case h1.Length:
		n = int(min(int64(len(p)), b.left))
		b.left -= int64(n)
		return n, b.left == 0, nil
	case h1.Chunked:
		return b.chunks.Feed(p)
	case h1.UntilClose:
		return len(p), false, nil
	case h1.NoBody:
		return 0, true, nil
	}
	panic("gateway: unknown framing")
}

// Package wsframe follows the frame boundaries of one direction of a WebSocket stream (RFC 6455
// section 5.2) without buffering payloads, so a proxy that copies the stream byte for byte knows
// where it may inject a frame of its own, such as a Close frame, and when a Close frame has
// passed.
//
// A [Tracker] parses only frame headers. Headers may arrive split across any number of reads;
// payloads are skipped by counting. Masked (client to server) and unmasked (server to client)
// frames are both understood. Extensions such as permessage-deflate do not change framing, so
// they need no support.
package wsframe

import (
	"encoding/binary"
	"errors"
)

// Opcode is a WebSocket frame opcode.
type Opcode byte

// The opcodes of RFC 6455.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// IsControl reports whether op is a control opcode (Close, Ping, Pong or a reserved one).
func (op Opcode) IsControl() bool { return op&0x8 != 0 }

// Close status codes used by proxies (RFC 6455 section 7.4 and the IANA registry).
const (
	// CloseGoingAway (1001): the endpoint is going away, e.g. a server shutting down.
	CloseGoingAway uint16 = 1001
	// CloseServiceRestart (1012): the service is restarting; the client may reconnect.
	CloseServiceRestart uint16 = 1012
)

// maxHeader is the longest frame header: 2 bytes, an 8-byte extended length and a 4-byte mask.
const maxHeader = 14

// maxControlPayload is the largest payload of a control frame.
const maxControlPayload = 125

// Errors a Tracker reports for streams that are not valid WebSocket framing.
var (
	ErrReservedOpcode    = errors.New("wsframe: reserved opcode")
	ErrLengthTooLarge    = errors.New("wsframe: 64-bit payload length has its most significant bit set")
	ErrControlFragmented = errors.New("wsframe: fragmented control frame")
	ErrControlTooLong    = errors.New("wsframe: control frame payload longer than 125 bytes")
)

// Tracker follows frame boundaries in a byte stream. The zero value is ready at the start of a
// stream. A Tracker is not safe for concurrent use.
type Tracker struct {
	hdr       [maxHeader]byte
	hdrLen    int    // header bytes seen of the current frame; 0 between frames
	inPayload bool   // the header is complete and payload bytes remain
	remaining uint64 // payload bytes left in the current frame
	opcode    Opcode // opcode of the current frame, or of the last complete one
	err       error
}

// AtBoundary reports whether the stream is between two frames: everything consumed so far
// ends exactly at the end of a frame (or nothing was consumed yet).
func (t *Tracker) AtBoundary() bool { return t.err == nil && t.hdrLen == 0 && !t.inPayload }

// Opcode returns the opcode of the frame being read or, at a boundary, of the last frame.
func (t *Tracker) Opcode() Opcode { return t.opcode }

// Err returns the framing error that stopped the Tracker, or nil. A stopped Tracker consumes
// everything and never reports a boundary again.
func (t *Tracker) Err() error { return t.err }

// Advance consumes bytes of p until the end of the current frame. It returns how many bytes
// it consumed and whether they end exactly at a frame boundary. When end is false, all of p
// was consumed inside a frame. Advance consumes nothing from an empty p and reports end
// false; callers loop until p is consumed.
func (t *Tracker) Advance(p []byte) (n int, end bool) {
	if t.err != nil {
		return len(p), false
	}
	for n < len(p) {
		if t.inPayload {
			return t.skipPayload(p, n)
		}
		n += t.readHeader(p[n:])
		if t.err != nil {
			return len(p), false
		}
		if t.inPayload && t.remaining == 0 {
			t.inPayload = false
			return n, true
		}
	}
	return n, false
}

// Skip consumes all of p and returns the opcode of the last frame that ended in it and
// whether one did. It is Advance in a loop, for callers that need no cut points.
func (t *Tracker) Skip(p []byte) (last Opcode, ended bool) {
	for len(p) > 0 {
		n, end := t.Advance(p)
		p = p[n:]
		if end {
			last, ended = t.opcode, true
		}
	}
	return last, ended
}

// skipPayload consumes payload bytes of p from offset n.
func (t *Tracker) skipPayload(p []byte, n int) (int, bool) {
	avail := uint64(len(p) - n)
	if avail < t.remaining {
		t.remaining -= avail
		return len(p), false
	}
	n += int(t.remaining)
	t.remaining = 0
	t.inPayload = false
	return n, true
}

// readHeader consumes header bytes from p and, once the header is complete, starts the
// payload. It returns how many bytes it consumed.
func (t *Tracker) readHeader(p []byte) int {
	consumed := 0
	for consumed < len(p) {
		need := t.headerLen()
		if t.hdrLen >= need {
			break
		}
		c := copy(t.hdr[t.hdrLen:need], p[consumed:])
		t.hdrLen += c
		consumed += c
	}
	if t.hdrLen >= 2 && t.hdrLen == t.headerLen() {
		t.startPayload()
	}
	return consumed
}

// headerLen is the length of the current header as far as it is known: 2 until the second
// byte is read, then the full length.
func (t *Tracker) headerLen() int {
	if t.hdrLen < 2 {
		return 2
	}
	return HeaderLen(t.hdr[1])
}

// HeaderLen is the length of a frame header whose second byte is b1.
func HeaderLen(b1 byte) int {
	n := 2
	switch b1 & 0x7F {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b1&0x80 != 0 {
		n += 4
	}
	return n
}

// startPayload validates the complete header and starts counting its payload.
func (t *Tracker) startPayload() {
	fin := t.hdr[0]&0x80 != 0
	op := Opcode(t.hdr[0] & 0x0F)
	length := payloadLen(t.hdr[:])
	if t.err = validate(fin, op, length); t.err != nil {
		return
	}
	t.opcode = op
	t.remaining = length
	t.inPayload = true
	t.hdrLen = 0
}

// validate says why a frame header with these fields is not valid framing, or nil.
func validate(fin bool, op Opcode, length uint64) error {
	switch {
	case op > OpBinary && op < OpClose || op > OpPong:
		return ErrReservedOpcode
	case length>>63 != 0:
		return ErrLengthTooLarge
	case op.IsControl() && !fin:
		return ErrControlFragmented
	case op.IsControl() && length > maxControlPayload:
		return ErrControlTooLong
	}
	return nil
}

// payloadLen decodes the payload length of the complete header h.
func payloadLen(h []byte) uint64 {
	switch l := h[1] & 0x7F; l {
	case 126:
		return uint64(binary.BigEndian.Uint16(h[2:4]))
	case 127:
		return binary.BigEndian.Uint64(h[2:10])
	default:
		return uint64(l)
	}
}

// Header is a frame header decoded whole, for a proxy that handles frames one at a time.
type Header struct {
	Fin    bool
	Op     Opcode
	Length uint64 // the payload's
	Masked bool
	Mask   [4]byte
	Len    int // the header's own length in bytes
}

// IsData reports whether the frame carries message data (text, binary or a continuation).
func (h *Header) IsData() bool { return !h.Op.IsControl() }

// ParseHeader decodes the complete frame header at the start of p, which must hold at least
// HeaderLen(p[1]) bytes, and validates it as a Tracker does.
func ParseHeader(p []byte) (Header, error) {
	h := Header{Fin: p[0]&0x80 != 0, Op: Opcode(p[0] & 0x0F), Length: payloadLen(p), Masked: p[1]&0x80 != 0,
		Len: HeaderLen(p[1])}
	if h.Masked {
		copy(h.Mask[:], p[h.Len-4:h.Len])
	}
	return h, validate(h.Fin, h.Op, h.Length)
}

// AppendHeader appends the header of a frame with fin, op and a payload of length, masked with
// mask when mask is not nil.
func AppendHeader(b []byte, fin bool, op Opcode, length int, mask *[4]byte) []byte {
	b0 := byte(op)
	if fin {
		b0 |= 0x80
	}
	var m byte
	if mask != nil {
		m = 0x80
	}
	switch {
	case length < 126:
		b = append(b, b0, m|byte(length))
	case length <= 0xFFFF:
		b = append(b, b0, m|126)
		b = binary.BigEndian.AppendUint16(b, uint16(length))
	default:
		b = append(b, b0, m|127)
		b = binary.BigEndian.AppendUint64(b, uint64(length))
	}
	if mask != nil {
		b = append(b, mask[:]...)
	}
	return b
}

// Unmask applies mask to p in place, p starting at offset pos of the payload.
func Unmask(p []byte, mask [4]byte, pos int) {
	for i := range p {
		p[i] ^= mask[(pos+i)&3]
	}
}

// CloseFrame returns an unmasked Close frame, as a server sends it, with the status code and
// a reason truncated to fit a control frame.
func CloseFrame(code uint16, reason string) []byte {
	if len(reason) > maxControlPayload-2 {
		reason = reason[:maxControlPayload-2]
	}
	f := make([]byte, 4, 4+len(reason))
	f[0] = 0x80 | byte(OpClose)
	f[1] = byte(2 + len(reason))
	binary.BigEndian.PutUint16(f[2:4], code)
	return append(f, reason...)
}

package wsframe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// frame encodes a frame; a masked frame gets the mask 1,2,3,4 (the tracker never unmasks).
func frame(fin bool, op Opcode, masked bool, payload []byte) []byte {
	b0 := byte(op)
	if fin {
		b0 |= 0x80
	}
	var mask byte
	if masked {
		mask = 0x80
	}
	out := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		out = append(out, mask|byte(n))
	case n <= 0xFFFF:
		out = append(out, mask|126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out = append(out, mask|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	if masked {
		out = append(out, 1, 2, 3, 4)
	}
	return append(out, payload...)
}

// boundaries feeds stream to a new tracker in chunks of size chunk and returns the stream
// offsets where frames ended, with their opcodes.
func boundaries(t *testing.T, stream []byte, chunk int) ([]int, []Opcode) {
	t.Helper()
	var tr Tracker
	var offs []int
	var ops []Opcode
	pos := 0
	for pos < len(stream) {
		p := stream[pos:min(pos+chunk, len(stream))]
		for len(p) > 0 {
			n, end := tr.Advance(p)
			if n == 0 {
				t.Fatalf("Advance consumed nothing at offset %d", pos)
			}
			p = p[n:]
			pos += n
			if end {
				offs = append(offs, pos)
				ops = append(ops, tr.Opcode())
				if !tr.AtBoundary() {
					t.Fatalf("end reported at %d but not AtBoundary", pos)
				}
			}
		}
	}
	if tr.Err() != nil {
		t.Fatalf("unexpected error: %v", tr.Err())
	}
	return offs, ops
}

func TestTrackerBoundaries(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 70000)
	mid := bytes.Repeat([]byte("y"), 300)
	frames := [][]byte{
		frame(true, OpText, false, []byte("hello")),
		frame(true, OpBinary, false, nil), // empty payload
		frame(true, OpBinary, false, mid), // 16-bit length
		frame(true, OpBinary, false, big), // 64-bit length
		frame(false, OpText, false, []byte("frag-1")),
		frame(true, OpPing, false, []byte("p")), // control frame between fragments
		frame(false, OpContinuation, false, []byte("frag-2")),
		frame(true, OpContinuation, false, []byte("frag-3")),
		frame(true, OpText, true, []byte("masked")),
		frame(true, OpBinary, true, mid),
		frame(true, OpClose, true, []byte{0x03, 0xE8}),
	}
	var stream []byte
	var want []int
	var wantOps []Opcode
	for _, f := range frames {
		stream = append(stream, f...)
		want = append(want, len(stream))
		wantOps = append(wantOps, Opcode(f[0]&0x0F))
	}
	for _, chunk := range []int{1, 2, 3, 7, 13, 64, 1000, len(stream)} {
		got, ops := boundaries(t, stream, chunk)
		if !equalInts(got, want) {
			t.Fatalf("chunk %d: boundaries %v, want %v", chunk, got, want)
		}
		for i := range ops {
			if ops[i] != wantOps[i] {
				t.Fatalf("chunk %d: frame %d opcode %v, want %v", chunk, i, ops[i], wantOps[i])
			}
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestTrackerMidFrame(t *testing.T) {
	var tr Tracker
	if !tr.AtBoundary() {
		t.Fatal("a new tracker is at a boundary")
	}
	// A frame announcing 2^40 bytes: everything after its header is payload.
	hdr := []byte{0x82, 127}
	hdr = binary.BigEndian.AppendUint64(hdr, 1<<40)
	if n, end := tr.Advance(hdr[:5]); n != 5 || end || tr.AtBoundary() {
		t.Fatalf("partial header: n=%d end=%v boundary=%v", n, end, tr.AtBoundary())
	}
	if n, end := tr.Advance(hdr[5:]); n != 5 || end {
		t.Fatalf("rest of header: n=%d end=%v", n, end)
	}
	payload := make([]byte, 1<<16)
	for range 4 {
		if n, end := tr.Advance(payload); n != len(payload) || end || tr.AtBoundary() {
			t.Fatalf("payload: n=%d end=%v", n, end)
		}
	}
	if n, end := tr.Advance(nil); n != 0 || end {
		t.Fatalf("empty input: n=%d end=%v", n, end)
	}
}

func TestTrackerErrors(t *testing.T) {
	tooLong := []byte{0x82, 127}
	tooLong = binary.BigEndian.AppendUint64(tooLong, 1<<63)
	cases := []struct {
		name   string
		stream []byte
		want   error
	}{
		{"reserved data opcode", []byte{0x83, 0}, ErrReservedOpcode},
		{"reserved control opcode", []byte{0x8B, 0}, ErrReservedOpcode},
		{"length MSB", tooLong, ErrLengthTooLarge},
		{"fragmented ping", []byte{0x09, 0}, ErrControlFragmented},
		{"long close", frame(true, OpClose, false, make([]byte, 126)), ErrControlTooLong},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var tr Tracker
			n, end := tr.Advance(c.stream)
			if !errors.Is(tr.Err(), c.want) || n != len(c.stream) || end || tr.AtBoundary() {
				t.Fatalf("err=%v n=%d end=%v, want %v consuming everything", tr.Err(), n, end, c.want)
			}
			if n, end := tr.Advance([]byte{0x81, 0}); n != 2 || end {
				t.Fatal("a stopped tracker must consume everything without boundaries")
			}
		})
	}
}

func TestSkip(t *testing.T) {
	var tr Tracker
	stream := append(frame(true, OpText, false, []byte("a")), frame(true, OpPong, false, nil)...)
	partial := frame(true, OpText, false, []byte("partial"))
	stream = append(stream, partial[:4]...)
	last, ended := tr.Skip(stream)
	if !ended || last != OpPong || tr.AtBoundary() {
		t.Fatalf("last=%v ended=%v boundary=%v", last, ended, tr.AtBoundary())
	}
	if _, ended := tr.Skip(partial[4:]); !ended || !tr.AtBoundary() {
		t.Fatal("the partial frame should end")
	}
}

func TestCloseFrame(t *testing.T) {
	f := CloseFrame(CloseServiceRestart, "restart")
	want := append([]byte{0x88, 9, 0x03, 0xF4}, "restart"...)
	if !bytes.Equal(f, want) {
		t.Fatalf("CloseFrame = %x, want %x", f, want)
	}
	long := CloseFrame(CloseGoingAway, string(bytes.Repeat([]byte("r"), 300)))
	if len(long) != 2+maxControlPayload || long[1] != maxControlPayload {
		t.Fatalf("long reason: %d bytes, length byte %d", len(long), long[1])
	}
	var tr Tracker
	if n, end := tr.Advance(long); n != len(long) || !end || tr.Opcode() != OpClose {
		t.Fatal("the tracker must accept its own close frame")
	}
}

// FuzzTracker checks that any stream, cut anywhere, gives the same boundaries and error as the
// whole stream, and that nothing panics.
func FuzzTracker(f *testing.F) {
	f.Add(frame(true, OpText, true, []byte("hi")), uint8(1))
	f.Add(append(frame(false, OpBinary, false, make([]byte, 200)), frame(true, OpPing, false, nil)...), uint8(3))
	f.Add([]byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, uint8(2))
	f.Fuzz(func(t *testing.T, stream []byte, chunk uint8) {
		whole, wholeErr := trackAll(stream, len(stream)+1)
		cut, cutErr := trackAll(stream, int(chunk%32)+1)
		if !equalInts(whole, cut) || !errors.Is(cutErr, wholeErr) {
			t.Fatalf("whole %v/%v, cut %v/%v", whole, wholeErr, cut, cutErr)
		}
	})
}

func trackAll(stream []byte, chunk int) ([]int, error) {
	var tr Tracker
	var offs []int
	for pos := 0; pos < len(stream); {
		p := stream[pos:min(pos+chunk, len(stream))]
		for len(p) > 0 {
			n, end := tr.Advance(p)
			p = p[n:]
			pos += n
			if end {
				offs = append(offs, pos)
			}
		}
	}
	return offs, tr.Err()
}

//go:build unix

package peek

import (
	"errors"
	"net"
	"syscall"
)

// Writer writes to a socket and then waits for it to become readable, in one call of its
// raw connection's Read. Go's reads try the socket first and wait only after it answers
// EAGAIN; a request-response exchange that reads right after it writes pays that extra read
// every time. Here the wait is armed before the write, so an answer that arrives at once is
// not missed, and the caller's next read finds data.
type Writer struct {
	rc    syscall.RawConn
	p     []byte
	n     int
	err   error
	wrote bool
	step  func(fd uintptr) bool // bound once, so a call allocates nothing
}

// NewWriter returns the writer of c, or nil when c has no raw connection.
func NewWriter(c net.Conn) *Writer {
	rc := RawConn(c)
	if rc == nil {
		return nil
	}
	w := &Writer{rc: rc}
	w.step = w.do
	return w
}

// WriteThenWait writes p without blocking, then waits until the socket has something to
// read (bytes, an end or an error) or its read deadline passes. It returns how much of p it
// wrote: less than len(p) when the send buffer was full or the wait could not start (a
// deadline already passed), and the caller writes the rest the usual way. err is the write's
// error, or the wait's.
func (w *Writer) WriteThenWait(p []byte) (int, error) {
	w.p, w.n, w.err, w.wrote = p, 0, nil, false
	err := w.rc.Read(w.step)
	w.p = nil
	if w.err != nil {
		return w.n, w.err
	}
	return w.n, err
}

func (w *Writer) do(fd uintptr) bool {
	if w.wrote {
		return true // readable
	}
	w.wrote = true
	for {
		n, err := syscall.Write(int(fd), w.p)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			return true
		case err != nil:
			w.err = err
			return true
		}
		w.n = n
		return n < len(w.p) // the rest is the caller's to write; else wait
	}
}

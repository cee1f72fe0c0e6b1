package peek

import (
	"errors"
	"net"
	"syscall"
)

// Sender sends a request on a connection that should have nothing to read, and waits for the
// answer, in one call of its raw connection's Read: it checks the socket (Readable), writes,
// and waits until the socket is readable. The check replaces the read that Go's connections
// try before they wait, and it is needed there: a raw read forgets, before its first call of
// the function, what the netpoller reported, so only a look at the socket after that tells
// whether bytes came before. From the check on, whatever arrives wakes the wait. A pooled
// member connection is proved clean by the same check, so a request costs a check, a write,
// the wait and the read of the answer.
type Sender struct {
	rc      syscall.RawConn
	p       []byte
	n       int
	err     error
	sent    bool
	unclean bool
	step    func(fd uintptr) bool // bound once, so a call allocates nothing
}

// NewSender returns the sender of c, or nil when c has no raw connection.
func NewSender(c net.Conn) *Sender {
	rc := RawConn(c)
	if rc == nil {
		return nil
	}
	s := &Sender{rc: rc}
	s.step = s.do
	return s
}

// SendIfClean writes p, unless the socket has something to read already (clean is false
// then, and nothing is written), and waits until the socket has something to read (bytes, an
// end or an error) or its read deadline passes. It returns how much of p it wrote: less than
// len(p) when the send buffer was full or the wait could not start (a deadline already
// passed), and the caller writes the rest the usual way. err is the write's error, or the
// wait's.
func (s *Sender) SendIfClean(p []byte) (n int, clean bool, err error) {
	s.p, s.n, s.err, s.sent, s.unclean = p, 0, nil, false, false
	err = s.rc.Read(s.step)
	s.p = nil
	switch {
	case s.unclean:
		return 0, false, nil
	case s.err != nil:
		return s.n, true, s.err
	}
	return s.n, true, err
}

func (s *Sender) do(fd uintptr) bool {
	if s.sent {
		return true // readable
	}
	if Readable(fd) {
		s.unclean = true
		return true
	}
	s.sent = true
	for {
		n, err := syscall.Write(int(fd), s.p)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			return true
		case err != nil:
			s.err = err
			return true
		}
		s.n = n
		return n < len(s.p) // the rest is the caller's to write; else wait
	}
}

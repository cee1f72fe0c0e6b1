// Package peek tells whether a socket has something to read (bytes, an end of stream or an
// error) without reading it and without blocking. The tunnel uses it to wait for data without
// holding a buffer, and the member connection pool to prove an idle connection clean before it
// carries another request; its Sender makes that proof, sends the request and waits for the
// answer in one step.
package peek

import (
	"net"
	"syscall"
)

// Conn checks one connection for something to read. It is made once per connection, so a
// check allocates nothing.
type Conn struct {
	rc       syscall.RawConn // nil when the connection has none
	readable bool            // the last check's result
	check    func(fd uintptr) bool
}

// RawConn returns c's raw connection, or nil when it has none.
func RawConn(c net.Conn) syscall.RawConn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// New returns the checker of c.
func New(c net.Conn) *Conn {
	p := &Conn{rc: RawConn(c)}
	p.check = func(fd uintptr) bool {
		p.readable = Readable(fd)
		return true // never wait
	}
	return p
}

// Idle reports whether the connection has nothing to read and no pending end or error: its
// peer sent nothing since it was last read. A connection without a syscall.RawConn, or
// closed, is not idle.
func (p *Conn) Idle() bool {
	if p.rc == nil {
		return false
	}
	err := p.rc.Read(p.check)
	return err == nil && !p.readable
}

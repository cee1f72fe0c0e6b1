// Package peek tells whether a socket has something to read (bytes, an end of stream or an
// error) without reading it and without blocking. The tunnel uses it to wait for data without
// holding a buffer, and the member connection pool to prove an idle connection clean before it
// carries another request.
package peek

import (
	"net"
	"syscall"
)

// Idle reports whether c has nothing to read and no pending end or error: its peer sent
// nothing since c was last read. A connection without a syscall.RawConn is not idle.
func Idle(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	idle := false
	err = rc.Read(func(fd uintptr) bool {
		idle = !Readable(fd)
		return true // never wait
	})
	return err == nil && idle
}

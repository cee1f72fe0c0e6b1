package tunnel

import (
	"syscall"
	"unsafe"
)

// waitReadable parks until rc has data to read, has reached EOF or has failed, without
// holding a buffer. It returns the connection's error, such as an expired read deadline or a
// closed connection. A nil rc returns at once.
func waitReadable(rc syscall.RawConn) error {
	if rc == nil {
		return nil
	}
	return rc.Read(readable)
}

// readable peeks one byte without blocking: false (wait for the poller) only when there is
// nothing to read yet.
func readable(fd uintptr) bool {
	var b [1]byte
	_, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	return errno != syscall.EAGAIN
}

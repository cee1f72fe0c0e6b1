package peek

import (
	"syscall"
	"unsafe"
)

// Readable peeks one byte of socket fd without blocking: false only when there is nothing to
// read yet (EAGAIN).
func Readable(fd uintptr) bool {
	_, errno := peekByte(fd)
	return errno != syscall.EAGAIN
}

// Ended peeks one byte of socket fd without blocking: true when the peer ended its side of
// the connection or the socket failed, false when there are bytes to read or nothing yet.
func Ended(fd uintptr) bool {
	n, errno := peekByte(fd)
	if errno != 0 {
		return errno != syscall.EAGAIN
	}
	return n == 0
}

// peekByte peeks one byte of fd without blocking, and returns what recv(2) returned.
func peekByte(fd uintptr) (uintptr, syscall.Errno) {
	var b [1]byte
	n, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	return n, errno
}

package peek

import (
	"syscall"
	"unsafe"
)

// Readable peeks one byte of socket fd without blocking: false only when there is nothing to
// read yet (EAGAIN).
func Readable(fd uintptr) bool {
	var b [1]byte
	_, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
		syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
	return errno != syscall.EAGAIN
}

package sockopt

import (
	"syscall"
	"unsafe"
)

// Send writes p to the socket fd with sendto(2) and MSG_NOSIGNAL, without waiting: a peer that
// has gone gives EPIPE, not a SIGPIPE for the runtime to field. It returns what the socket
// took, or the errno (EAGAIN when it took nothing); EINTR is retried.
func Send(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		r, _, errno := syscall.Syscall6(syscall.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))),
			uintptr(len(p)), syscall.MSG_NOSIGNAL, 0, 0)
		switch {
		case errno == syscall.EINTR:
			continue
		case errno != 0:
			return 0, errno
		}
		return int(r), nil
	}
}

package sockopt

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// Connect makes a non-blocking TCP socket for ap, with TCP_NODELAY (as Go's net package sets
// on every TCP connection) and keep-alive probes after keepAliveIdle (none if zero), and
// starts its connect. pending says the connect is still being made: Connected tells when it
// is, once the socket was reported writable. Errors are those of socket(2), setsockopt(2) and
// connect(2), wrapped in *os.SyscallError; the socket is closed then.
func Connect(ap netip.AddrPort, keepAliveIdle time.Duration) (fd int, pending bool, err error) {
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	family, sa := syscall.AF_INET6, syscall.Sockaddr(nil)
	if a := ap.Addr(); a.Is4() {
		family, sa = syscall.AF_INET, &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}
	} else {
		sa = &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16(), ZoneId: zoneID(a.Zone())}
	}
	fd, err = syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, false, os.NewSyscallError("socket", err)
	}
	if err = setOptions(fd, keepAliveIdle); err == nil {
		pending, err = startConnect(fd, sa)
	}
	if err != nil {
		_ = syscall.Close(fd)
		return -1, false, err
	}
	return fd, pending, nil
}

// zoneID returns the index of the network interface named zone, 0 for none or unknown.
func zoneID(zone string) uint32 {
	if zone == "" {
		return 0
	}
	if ifi, err := net.InterfaceByName(zone); err == nil {
		return uint32(ifi.Index)
	}
	return 0
}

// setOptions sets TCP_NODELAY, and keep-alive probes after idle unless it is zero.
func setOptions(fd int, idle time.Duration) error {
	if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	if idle <= 0 {
		return nil
	}
	return KeepAlive(fd, idle)
}

// startConnect starts connecting the non-blocking socket fd to sa, and reports whether the
// connection is still being made.
func startConnect(fd int, sa syscall.Sockaddr) (pending bool, err error) {
	err = syscall.Connect(fd, sa)
	for errors.Is(err, syscall.EINTR) {
		err = syscall.Connect(fd, sa)
	}
	switch {
	case err == nil, errors.Is(err, syscall.EISCONN):
		return false, nil
	case errors.Is(err, syscall.EINPROGRESS), errors.Is(err, syscall.EALREADY):
		return true, nil
	}
	return false, os.NewSyscallError("connect", err)
}

// Connected tells how the connect that Connect started on fd stands: made (true, nil), still
// being made (false, nil) or failed (false, the error). A connection made and already closed
// by the peer counts as made; a read tells the rest. One system call: the first byte of the
// socket's TCP_INFO (its state), which is all that is asked of the kernel.
func Connected(fd int) (bool, error) {
	var state byte
	size := uint32(1)
	_, _, errno := syscall.Syscall6(syscall.SYS_GETSOCKOPT, uintptr(fd), syscall.IPPROTO_TCP,
		syscall.TCP_INFO, uintptr(unsafe.Pointer(&state)), uintptr(unsafe.Pointer(&size)), 0)
	switch {
	case errno != 0:
		return false, os.NewSyscallError("getsockopt", errno)
	case state == tcpSynSent:
		return false, nil
	case state != tcpClose:
		return true, nil
	}
	return false, os.NewSyscallError("connect", connectError(fd))
}

// The TCP states Connected tells apart (include/net/tcp_states.h).
const (
	tcpSynSent = 2
	tcpClose   = 7
)

// connectError returns why the socket's connect failed (SO_ERROR); ECONNREFUSED if the
// kernel no longer says.
func connectError(fd int) error {
	n, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ERROR)
	switch {
	case err != nil:
		return err
	case n == 0:
		return syscall.ECONNREFUSED
	}
	return syscall.Errno(n)
}

package sockopt

import (
	"os"
	"syscall"
	"time"
)

// KeepAlive turns on TCP keep-alive probes on fd after idle without traffic (whole seconds,
// at least one), at the system's interval and count: two system calls, where Go's net package
// sets four options.
func KeepAlive(fd int, idle time.Duration) error {
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	secs := max(int((idle+time.Second-1)/time.Second), 1)
	if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, secs); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	return nil
}

package gateway

import (
	"net"
	"syscall"
	"testing"
)

// TestAcceptedSocketOptions checks that a connection accepted from Listen has the gateway's
// TCP keep-alive and TCP_NODELAY, which on Linux it inherits from the listening socket (Go's
// accept, which would set TCP_NODELAY on it, is not on the path: package accept).
func TestAcceptedSocketOptions(t *testing.T) {
	ln, err := Listen(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	raw, err := conn.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var keepAlive, idle, noDelay int
	var errs [3]error
	if err := raw.Control(func(fd uintptr) {
		keepAlive, errs[0] = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
		idle, errs[1] = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE)
		noDelay, errs[2] = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY)
	}); err != nil {
		t.Fatal(err)
	}
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if keepAlive != 1 || idle != int(tcpKeepAlive.Idle.Seconds()) {
		t.Errorf("accepted connection: SO_KEEPALIVE=%d TCP_KEEPIDLE=%d, want 1 and %d", keepAlive, idle, int(tcpKeepAlive.Idle.Seconds()))
	}
	if noDelay == 0 {
		t.Error("accepted connection: TCP_NODELAY is off")
	}
}

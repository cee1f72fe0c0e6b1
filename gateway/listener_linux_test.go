package gateway

import (
	"net"
	"syscall"
	"testing"
)

// TestAcceptedKeepAlive checks that a connection accepted from Listen has the gateway's TCP
// keep-alive, which on Linux it inherits from the listening socket.
func TestAcceptedKeepAlive(t *testing.T) {
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
	raw, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var keepAlive, idle int
	var errs [2]error
	if err := raw.Control(func(fd uintptr) {
		keepAlive, errs[0] = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
		idle, errs[1] = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE)
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
}

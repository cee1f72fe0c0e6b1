package accept

import (
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
)

// Listener accepts TCP connections with accept4(2), as bare sockets (Conn). It waits for them
// on its socket as an *os.File, as a *net.TCPListener's raw connection cannot wait.
type Listener struct {
	file   *os.File
	rc     syscall.RawConn
	local  *net.TCPAddr // the listening address; its IP is unspecified when bound to all
	closed atomic.Bool
	calls  sync.Pool // of *acceptCall
}

// acceptCall is the accept4(2) calls of one Accept and their outcome. Its function for the
// raw connection is made once, and a Listener's pool keeps acceptCalls for its Accepts: a
// function literal in Accept, capturing Accept's variables, would have them and itself
// allocated at every connection (4 of the 10 allocations an Accept made).
type acceptCall struct {
	try func(fd uintptr) bool
	nfd int
	sa  syscall.Sockaddr
	err error
}

func newAcceptCall() any {
	a := &acceptCall{}
	a.try = func(fd uintptr) bool {
		for {
			a.nfd, a.sa, a.err = syscall.Accept4(int(fd), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
			switch {
			case errors.Is(a.err, syscall.EINTR), errors.Is(a.err, syscall.ECONNABORTED): // a client that reset before its turn
				continue
			case errors.Is(a.err, syscall.EAGAIN):
				return false
			}
			return true
		}
	}
	return a
}

// Take returns a Listener on ln's socket, with TCP_NODELAY set for its connections to inherit
// (Go's net package sets it on each). It closes ln in every case: the socket is the
// Listener's alone.
func Take(ln *net.TCPListener) (net.Listener, error) {
	f, err := ln.File() // a duplicate, left non-blocking, on Go's netpoller
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	l := &Listener{file: f}
	l.calls.New = newAcceptCall
	l.local, _ = ln.Addr().(*net.TCPAddr)
	if err := ln.Close(); err != nil {
		_ = f.Close()
		return nil, err
	}
	if l.rc, err = f.SyscallConn(); err != nil {
		_ = f.Close()
		return nil, err
	}
	var serr error
	if err := l.rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	}); err != nil || serr != nil {
		_ = f.Close()
		return nil, errors.Join(err, os.NewSyscallError("setsockopt", serr))
	}
	return l, nil
}

// Close closes the listener, and ends the Accept waiting.
func (l *Listener) Close() error {
	l.closed.Store(true)
	if err := l.file.Close(); err != nil {
		return &net.OpError{Op: "close", Net: "tcp", Addr: l.local, Err: net.ErrClosed}
	}
	return nil
}

// Addr is the listening address.
func (l *Listener) Addr() net.Addr { return l.local }

// Accept waits for a connection and returns it as a *Conn. Its errors are *net.OpError, with
// net.ErrClosed once the listener is closed.
func (l *Listener) Accept() (net.Conn, error) {
	a := l.calls.Get().(*acceptCall)
	a.nfd, a.sa, a.err = -1, nil, nil
	err := l.rc.Read(a.try)
	nfd, sa, aerr := a.nfd, a.sa, a.err
	a.sa, a.err = nil, nil
	l.calls.Put(a)
	if err == nil && aerr != nil {
		err = os.NewSyscallError("accept4", aerr)
	}
	if err != nil && l.closed.Load() {
		err = net.ErrClosed // the file's raw connection says "use of closed file"
	}
	if err != nil {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.local, Err: err}
	}
	return newConn(nfd, l.local, tcpAddr(sa)), nil
}

// tcpAddr converts an address accept4(2) returned.
func tcpAddr(sa syscall.Sockaddr) *net.TCPAddr {
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		// One allocation for the address and its IP, in the 16-byte form net.IPv4 gives.
		v := &struct {
			addr net.TCPAddr
			ip   [net.IPv6len]byte
		}{ip: [net.IPv6len]byte{10: 0xff, 11: 0xff, 12: sa.Addr[0], 13: sa.Addr[1], 14: sa.Addr[2], 15: sa.Addr[3]}}
		v.addr = net.TCPAddr{IP: v.ip[:], Port: sa.Port}
		return &v.addr
	case *syscall.SockaddrInet6:
		a := &net.TCPAddr{IP: append(net.IP(nil), sa.Addr[:]...), Port: sa.Port}
		if sa.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(sa.ZoneId)); err == nil {
				a.Zone = ifi.Name
			}
		}
		return a
	}
	return &net.TCPAddr{}
}

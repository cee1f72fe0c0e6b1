package tunnel

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stablering/stablering/gateway/bufpool"
	"github.com/stablering/stablering/gateway/internal/loopback"
	"github.com/stablering/stablering/gateway/internal/sockopt"
)

// dialled returns a Conn dialled to a listener of the test's and the member's end of it.
func dialled(t *testing.T) (*Conn, net.Conn) {
	t.Helper()
	mode{name: "raw-dialled", raw: true, dial: true}.set(t)
	m, c := backendPair(t)
	return c.(*Conn), m
}

func TestDialRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	c, err := Dial(context.Background(), addr, DialOptions{Timeout: time.Second})
	if err == nil {
		_ = c.Close()
		t.Fatal("Dial to a closed port succeeded")
	}
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Dial: %v (%T), want a dial *net.OpError for ECONNREFUSED", err, err)
	}
}

func TestDialNeedsAnIPAddress(t *testing.T) {
	for _, addr := range []string{"localhost:80", "127.0.0.1", "[::1]:http"} {
		if _, err := Dial(context.Background(), addr, DialOptions{}); !errors.Is(err, ErrNoLoop) {
			t.Errorf("Dial(%q): %v, want ErrNoLoop", addr, err)
		}
	}
}

func TestDialWithoutRawTunnels(t *testing.T) {
	mode{name: "goroutines"}.set(t)
	if _, err := Dial(context.Background(), "127.0.0.1:1", DialOptions{}); !errors.Is(err, ErrNoLoop) {
		t.Fatalf("Dial with raw tunnels off: %v, want ErrNoLoop", err)
	}
}

// TestDialSocketOptions pins the options a member socket gets: no Nagle delay, and keep-alive
// probes after the idle time asked for.
func TestDialSocketOptions(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	for _, idle := range []time.Duration{0, 30 * time.Second} {
		c, err := Dial(context.Background(), ln.Addr().String(), DialOptions{KeepAliveIdle: idle})
		if err != nil {
			t.Fatal(err)
		}
		fd := c.(*Conn).fd
		get := func(level, opt int) int {
			v, err := syscall.GetsockoptInt(fd, level, opt)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		if get(syscall.IPPROTO_TCP, syscall.TCP_NODELAY) == 0 {
			t.Error("TCP_NODELAY is off")
		}
		keep := get(syscall.SOL_SOCKET, syscall.SO_KEEPALIVE) != 0
		if keep != (idle > 0) {
			t.Errorf("idle %v: SO_KEEPALIVE %v", idle, keep)
		}
		if keep && get(syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE) != 30 {
			t.Errorf("TCP_KEEPIDLE %d, want 30", get(syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE))
		}
		_ = c.Close()
	}
}

func TestConnReadsAndWrites(t *testing.T) {
	c, m := dialled(t)
	go func() { // an echo, which ends its side when the Conn ends its own
		_, _ = io.Copy(m, m)
		_ = m.(*net.TCPConn).CloseWrite()
	}()
	msg := make([]byte, 1<<20) // more than the socket buffers take at once: Write waits
	for i := range msg {
		msg[i] = byte(i)
	}
	go func() { _, _ = c.Write(msg) }()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i] != msg[i] {
			t.Fatalf("byte %d is %d, want %d", i, got[i], msg[i])
		}
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Read(got); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("Read after the member's end: %d, %v; want 0, EOF", n, err)
	}
	if got, want := c.RemoteAddr().String(), m.LocalAddr().String(); got != want {
		t.Errorf("RemoteAddr %s, want %s", got, want)
	}
	if got, want := c.LocalAddr().String(), m.RemoteAddr().String(); got != want {
		t.Errorf("LocalAddr %s, want %s", got, want)
	}
}

func TestConnReadDeadline(t *testing.T) {
	c, m := dialled(t)
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	start := time.Now()
	_, err := c.Read(make([]byte, 8))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline: %v, want a timeout", err)
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > time.Second {
		t.Errorf("the read returned after %v, want about 50ms", d)
	}
	// A deadline moved into the past ends a waiting read; cleared, reads go on.
	errs := make(chan error, 1)
	_ = c.SetReadDeadline(time.Time{})
	go func() {
		_, err := c.Read(make([]byte, 8))
		errs <- err
	}()
	time.Sleep(20 * time.Millisecond)
	_ = c.SetReadDeadline(time.Now())
	if err := <-errs; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read whose deadline moved to now: %v, want a timeout", err)
	}
	_ = c.SetReadDeadline(time.Time{})
	_, _ = m.Write([]byte("x"))
	if n, err := c.Read(make([]byte, 8)); n != 1 || err != nil {
		t.Fatalf("Read after clearing the deadline: %d, %v", n, err)
	}
}

func TestConnCloseEndsWaits(t *testing.T) {
	c, _ := dialled(t)
	errs := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 8))
		errs <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read ended by Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not end the waiting Read")
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close: %v, want net.ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestWriteThenWait checks that WriteThenWait returns once the member answered, and at the
// read deadline when it does not.
func TestWriteThenWait(t *testing.T) {
	c, m := dialled(t)
	go func() {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(m, buf); err == nil {
			time.Sleep(30 * time.Millisecond)
			_, _ = m.Write([]byte("answer"))
		}
	}()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := c.WriteThenWait([]byte("hello")); n != 5 || err != nil {
		t.Fatalf("WriteThenWait: %d, %v", n, err)
	}
	buf := make([]byte, 16)
	if n, _ := c.Read(buf); string(buf[:n]) != "answer" {
		t.Fatalf("read %q after the wait, want the answer", buf[:n])
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	if _, err := c.WriteThenWait([]byte("again")); err != nil {
		t.Fatalf("WriteThenWait without an answer: %v", err)
	}
	if _, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline: %v, want a timeout", err)
	}
}

// TestWriteThenWaitSeesBytesAlreadyThere checks that bytes that came before the call end the
// wait at once: the loop's report that the socket is readable is kept until a wait takes it.
func TestWriteThenWaitSeesBytesAlreadyThere(t *testing.T) {
	c, m := dialled(t)
	if _, err := m.Write([]byte("early")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the loop reports the bytes meanwhile
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	start := time.Now()
	if n, err := c.WriteThenWait([]byte("hello")); n != 5 || err != nil {
		t.Fatalf("WriteThenWait: %d, %v", n, err)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Fatalf("waited %v for bytes that were there", waited)
	}
	buf := make([]byte, 16)
	if n, _ := c.Read(buf); string(buf[:n]) != "early" {
		t.Fatalf("read %q, want the early bytes", buf[:n])
	}
}

// TestTunnelTakesConnWithData checks that what the member sent before the tunnel started
// reaches the client, whether the loop reported it to the Conn or nobody read it.
func TestTunnelTakesConnWithData(t *testing.T) {
	for _, readFirst := range []bool{false, true} {
		c, m := dialled(t)
		if readFirst {
			// The Conn reads once (as a handshake does), so the loop's report was taken.
			_, _ = m.Write([]byte("101"))
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, err := io.ReadFull(c, make([]byte, 3)); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Time{})
		}
		_, _ = m.Write([]byte("early"))
		time.Sleep(20 * time.Millisecond) // the loop reports it to the Conn
		clientEnd, gwClient := loopback.Pair(t)
		tun := New(gwClient, c, Options{Pool: bufpool.New(1024, 4)})
		tun.Start(nil)
		if got := readN(t, clientEnd, 5); string(got) != "early" {
			t.Fatalf("readFirst %v: the client got %q, want %q", readFirst, got, "early")
		}
		if tun.rt == nil || c.adopter.Load() != tun.rt {
			t.Fatal("the tunnel did not take the Conn's socket")
		}
		_, _ = m.Write([]byte("later"))
		if got := readN(t, clientEnd, 5); string(got) != "later" {
			t.Fatalf("the client got %q, want %q", got, "later")
		}
		tun.Kill()
	}
}

// TestDialWaitsForTheConnect checks a connect that is not made at once: to a listener whose
// accept queue is full, whose kernel drops the SYN until a connection is accepted. Dial
// gives up at its timeout, and otherwise returns once the SYN, sent again, is answered.
func TestDialWaitsForTheConnect(t *testing.T) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Close(fd) }()
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil { // a queue of one
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}),
		uint16(sa.(*syscall.SockaddrInet4).Port))).String()
	// Fill the queue: connections the listener does not accept.
	var queued []net.Conn
	defer func() {
		for _, c := range queued {
			_ = c.Close()
		}
	}()
	for range 2 {
		c, err := Dial(context.Background(), addr, DialOptions{Timeout: 300 * time.Millisecond})
		if err != nil {
			break
		}
		queued = append(queued, c)
	}
	start := time.Now()
	c, err := Dial(context.Background(), addr, DialOptions{Timeout: 300 * time.Millisecond})
	if err == nil {
		made, err := sockopt.Connected(c.(*Conn).fd)
		_ = c.Close()
		if !made && err == nil {
			t.Fatal("Dial returned before the connection was made")
		}
		t.Skip("the kernel did not hold the connect back (its queue took one more)")
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Dial to a full queue: %v, want a timeout", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 2*time.Second {
		t.Errorf("Dial gave up after %v, want about 300ms", d)
	}
	// Make room, then dial again: the SYN sent again after a second is answered.
	go func() {
		time.Sleep(100 * time.Millisecond)
		if nfd, _, err := syscall.Accept(fd); err == nil {
			_ = syscall.Close(nfd)
		}
	}()
	c, err = Dial(context.Background(), addr, DialOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("Dial once there is room: %v", err)
	}
	_ = c.Close()
}

package accept

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// listen returns a Listener on 127.0.0.1, closed when the test ends.
func listen(t *testing.T, address string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", address)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Take(ln.(*net.TCPListener))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// pair returns a client connection and the Conn accepted for it, both closed when the test
// ends.
func pair(t *testing.T) (client net.Conn, c *Conn) {
	t.Helper()
	l := listen(t, "127.0.0.1:0")
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ac, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close(); _ = ac.Close() })
	return client, ac.(*Conn)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestBareUntilAWait: data that is there is read, and an answer that fits is written, on the
// bare socket; the first read that has to wait puts it into Go's netpoller, where the
// deadline set before applies, and it can then be released no more.
func TestBareUntilAWait(t *testing.T) {
	client, c := pair(t)
	if _, err := client.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // the bytes are on the socket
	buf := make([]byte, 64)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "GET / HTTP/1.1\r\n\r\n" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if _, err := c.Write([]byte("HTTP/1.1 200 OK\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if c.file.Load() != nil {
		t.Fatal("the socket entered the netpoller without a wait")
	}
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	start := time.Now()
	if _, err := c.Read(buf); !isTimeout(err) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read with nothing to read: %v, want the deadline's timeout", err)
	}
	if waited := time.Since(start); waited < 40*time.Millisecond {
		t.Fatalf("the read gave up after %v, before its deadline", waited)
	}
	if c.file.Load() == nil {
		t.Fatal("the socket waited outside the netpoller")
	}
	if _, ok := c.ReleaseSocket(); ok {
		t.Fatal("a socket in the netpoller was released")
	}
	_ = c.SetReadDeadline(time.Time{})
	go func() { _, _ = client.Write([]byte("next")) }()
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "next" {
		t.Fatalf("read after the wait %q, %v", buf[:n], err)
	}
}

// TestDeadlinePassedWhileBare: a read or write whose deadline passed fails as Go's would, even
// with data to read or room to write.
func TestDeadlinePassedWhileBare(t *testing.T) {
	client, c := pair(t)
	if _, err := client.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	_ = c.SetDeadline(time.Now().Add(-time.Second))
	if _, err := c.Read(make([]byte, 1)); !isTimeout(err) {
		t.Fatalf("read past its deadline: %v", err)
	}
	if _, err := c.Write([]byte("x")); !isTimeout(err) {
		t.Fatalf("write past its deadline: %v", err)
	}
	_ = c.SetDeadline(time.Time{})
	if n, err := c.Read(make([]byte, 1)); n != 1 || err != nil {
		t.Fatalf("read once the deadline is cleared: %d, %v", n, err)
	}
	if c.file.Load() != nil {
		t.Fatal("the socket entered the netpoller, though nothing waited")
	}
}

// TestWriteLargerThanTheSendBuffer: what the bare socket does not take is written through the
// netpoller, in order, as the client reads.
func TestWriteLargerThanTheSendBuffer(t *testing.T) {
	client, c := pair(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	got := make(chan []byte)
	go func() {
		// The client reads late, so the first send fills the buffers and the write has to
		// wait; a reader at work could drain them as fast as one send(2) fills them.
		time.Sleep(50 * time.Millisecond)
		b, _ := io.ReadAll(client)
		got <- b
	}()
	if n, err := c.Write(big); n != len(big) || err != nil {
		t.Fatalf("wrote %d of %d: %v", n, len(big), err)
	}
	if c.file.Load() == nil {
		t.Fatal("a write larger than the send buffer did not wait in the netpoller")
	}
	_ = c.Close()
	if b := <-got; !bytes.Equal(b, big) {
		t.Fatalf("the client read %d bytes, not the %d written", len(b), len(big))
	}
}

// TestEndOfStream: a client that closed its side reads as io.EOF.
func TestEndOfStream(t *testing.T) {
	client, c := pair(t)
	_ = client.Close()
	time.Sleep(10 * time.Millisecond)
	if n, err := c.Read(make([]byte, 8)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("read after the client closed: %d, %v", n, err)
	}
}

// TestReleaseSocket: a released socket is the caller's: the Conn neither reads it nor closes
// it, and its Close does nothing.
func TestReleaseSocket(t *testing.T) {
	client, c := pair(t)
	fd, ok := c.ReleaseSocket()
	if !ok {
		t.Fatal("a bare socket was not released")
	}
	defer func() { _ = syscall.Close(fd) }()
	if _, ok := c.ReleaseSocket(); ok {
		t.Fatal("a socket was released twice")
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after the release: %v, want net.ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close after the release: %v", err)
	}
	if _, err := syscall.Write(fd, []byte("still open")); err != nil {
		t.Fatalf("the released socket: %v", err)
	}
	buf := make([]byte, 16)
	_ = client.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := client.Read(buf); string(buf[:n]) != "still open" {
		t.Fatalf("the client read %q, %v", buf[:n], err)
	}
}

// TestCloseEndsAWaitingRead: Close from another goroutine ends a read waiting in the netpoller,
// and a second Close says the connection is closed.
func TestCloseEndsAWaitingRead(t *testing.T) {
	_, c := pair(t)
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("the waiting read: %v, want net.ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not end the waiting read")
	}
	if err := c.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

// TestRawConnWaits: the raw connection calls a function that asks to wait again only once the
// socket is readable, as Go's does, also when it was bare at the first call.
func TestRawConnWaits(t *testing.T) {
	client, c := pair(t)
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(30 * time.Millisecond)
		_, _ = client.Write([]byte("x"))
	}()
	calls := 0
	var got []byte
	err = rc.Read(func(fd uintptr) bool {
		calls++
		buf := make([]byte, 8)
		n, err := syscall.Read(int(fd), buf)
		if err == syscall.EAGAIN {
			return false
		}
		got = buf[:max(n, 0)]
		return true
	})
	if err != nil || string(got) != "x" {
		t.Fatalf("raw read %q, %v", got, err)
	}
	if calls != 2 {
		t.Fatalf("the function was called %d times, want 2: once before the wait, once after", calls)
	}
}

// TestAddresses: the remote address is the client's; the local one is the socket's, also when
// the listener is bound to every address.
func TestAddresses(t *testing.T) {
	l := listen(t, "0.0.0.0:0")
	port := l.Addr().(*net.TCPAddr).Port
	client, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, want := c.RemoteAddr().String(), client.LocalAddr().String(); got != want {
		t.Errorf("RemoteAddr %s, want %s", got, want)
	}
	if got, want := c.LocalAddr().String(), client.RemoteAddr().String(); got != want {
		t.Errorf("LocalAddr %s, want %s", got, want)
	}
}

// TestCloseEndsAccept: closing the listener ends a waiting Accept with net.ErrClosed.
func TestCloseEndsAccept(t *testing.T) {
	l := listen(t, "127.0.0.1:0")
	done := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	_ = l.Close()
	select {
	case err := <-done:
		var op *net.OpError
		if !errors.Is(err, net.ErrClosed) || !errors.As(err, &op) || op.Op != "accept" {
			t.Fatalf("Accept after Close: %v, want an accept *net.OpError for net.ErrClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not end the waiting Accept")
	}
}

// TestRawConnWaitMissesNoWakeUp: a function that asks to wait on its first call, as a write
// that then awaits the answer does, is called again once the socket is readable, even when
// the bytes arrive while the socket enters the netpoller. Go's raw read forgets readiness it
// learned before it first calls the function, so a wake-up in that window is seen only by
// looking at the socket. Connections in parallel, whose peers write as the waits start, hit
// the window about once in ten thousand.
func TestRawConnWaitMissesNoWakeUp(t *testing.T) {
	l := listen(t, "127.0.0.1:0")
	const workers, each = 4, 5000
	errs := make(chan error, workers)
	for range workers {
		go func() { errs <- waitForSentBytes(l, each) }()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// waitForSentBytes connects n times to l; each time the client writes a byte while the
// accepted side waits for it with a raw read that asks to wait first.
func waitForSentBytes(l net.Listener, n int) error {
	for i := range n {
		client, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			return err
		}
		ac, err := l.Accept()
		if err != nil {
			return err
		}
		err = waitForSentByte(client, ac.(*Conn))
		_ = client.Close()
		_ = ac.Close()
		if err != nil {
			return fmt.Errorf("connection %d: the wait for a byte that was sent ended with %w", i, err)
		}
	}
	return nil
}

func waitForSentByte(client net.Conn, c *Conn) error {
	if err := c.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return err
	}
	rc, _ := c.SyscallConn()
	go func() { _, _ = client.Write([]byte("x")) }()
	first := true
	return rc.Read(func(uintptr) bool {
		if first {
			first = false
			return false
		}
		return true
	})
}

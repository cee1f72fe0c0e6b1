package peek

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stablering/stablering/gateway/internal/loopback"
)

// TestSendIfClean: the bytes reach the peer, and the call returns only once the peer has
// answered (or the read deadline passed), without consuming the answer.
func TestSendIfClean(t *testing.T) {
	local, remote := loopback.Pair(t)
	s := NewSender(local)
	if s == nil {
		t.Fatal("no sender for a TCP connection")
	}
	answered := make(chan time.Time, 1)
	go func() {
		buf := make([]byte, 4)
		if _, err := io.ReadFull(remote, buf); err != nil || string(buf) != "ping" {
			t.Errorf("the peer read %q %v", buf, err)
		}
		time.Sleep(100 * time.Millisecond)
		answered <- time.Now()
		_, _ = io.WriteString(remote, "pong")
	}()
	n, clean, err := s.SendIfClean([]byte("ping"))
	returned := time.Now()
	if n != 4 || !clean || err != nil {
		t.Fatalf("wrote %d, clean %v: %v", n, clean, err)
	}
	if at := <-answered; returned.Before(at) {
		t.Fatalf("returned %v before the peer answered", at.Sub(returned))
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(local, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("the answer: %q %v", buf, err)
	}

	_ = local.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, _, err := s.SendIfClean([]byte("ping")); n != 4 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("with no answer before the deadline: wrote %d, error %v", n, err)
	}
	if NewSender(nil) != nil {
		t.Fatal("a sender for a connection without a raw connection")
	}
}

// TestSendIfCleanRefusesUnreadBytes: bytes that came before the call, which the netpoller has
// reported by then, make the connection unclean: nothing is written, and the call returns at
// once.
func TestSendIfCleanRefusesUnreadBytes(t *testing.T) {
	local, remote := loopback.Pair(t)
	s := NewSender(local)
	if _, err := io.WriteString(remote, "stale"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the netpoller reports the bytes meanwhile
	_ = local.SetReadDeadline(time.Now().Add(2 * time.Second))
	start := time.Now()
	if n, clean, err := s.SendIfClean([]byte("ping")); n != 0 || clean || err != nil {
		t.Fatalf("wrote %d, clean %v: %v", n, clean, err)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Fatalf("waited %v", waited)
	}
	_ = remote.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := remote.Read(make([]byte, 4)); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the peer read %d bytes (%v) of a request that should not have been sent", n, err)
	}
}

// TestSendIfCleanMissesNoWakeUp: peers that answer as soon as they read, on connections in
// parallel, so that answers arrive while the wait starts: every call returns with its answer,
// none waits for its deadline.
func TestSendIfCleanMissesNoWakeUp(t *testing.T) {
	const workers, each = 4, 2000
	errs := make(chan error, workers)
	for range workers {
		local, remote := loopback.Pair(t)
		go echo(remote)
		go func() { errs <- pingPong(local, each) }()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// echo writes back what it reads until the connection ends.
func echo(c net.Conn) { _, _ = io.Copy(c, c) }

// pingPong sends n requests with SendIfClean, reading each answer.
func pingPong(c net.Conn, n int) error {
	s := NewSender(c)
	buf := make([]byte, 4)
	for i := range n {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if n, clean, err := s.SendIfClean([]byte("ping")); n != 4 || !clean || err != nil {
			return fmt.Errorf("request %d: wrote %d, clean %v: %w", i, n, clean, err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			return fmt.Errorf("answer %d: %w", i, err)
		}
	}
	return nil
}

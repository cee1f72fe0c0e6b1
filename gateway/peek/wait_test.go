//go:build linux

package peek

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/stablering/stablering/gateway/internal/loopback"
)

// TestEnded: pending bytes are not an end, the peer's close is, and nothing is consumed.
func TestEnded(t *testing.T) {
	local, remote := loopback.Pair(t)
	rc := RawConn(local)
	ended := func() bool {
		var e bool
		if err := rc.Control(func(fd uintptr) { e = Ended(fd) }); err != nil {
			t.Fatal(err)
		}
		return e
	}
	if ended() {
		t.Fatal("a fresh connection has ended")
	}
	if _, err := io.WriteString(remote, "x"); err != nil {
		t.Fatal(err)
	}
	_ = remote.(*net.TCPConn).CloseWrite()
	if !eventually(func() bool { return Readable(fd(t, rc)) }) || ended() {
		t.Fatal("a byte before the end reads as the end")
	}
	buf := make([]byte, 1)
	if _, err := io.ReadFull(local, buf); err != nil || buf[0] != 'x' {
		t.Fatalf("the peeked byte was consumed: %q %v", buf, err)
	}
	if !eventually(ended) {
		t.Fatal("the peer's close is not an end")
	}
}

func fd(t *testing.T, rc interface{ Control(func(uintptr)) error }) uintptr {
	var f uintptr
	if err := rc.Control(func(d uintptr) { f = d }); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestWriteThenWait: the bytes reach the peer, and the call returns only once the peer has
// answered (or the read deadline passed), without consuming the answer.
func TestWriteThenWait(t *testing.T) {
	local, remote := loopback.Pair(t)
	w := NewWriter(local)
	if w == nil {
		t.Fatal("no writer for a TCP connection")
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
	n, err := w.WriteThenWait([]byte("ping"))
	returned := time.Now()
	if n != 4 || err != nil {
		t.Fatalf("wrote %d: %v", n, err)
	}
	if at := <-answered; returned.Before(at) {
		t.Fatalf("returned %v before the peer answered", at.Sub(returned))
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(local, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("the answer: %q %v", buf, err)
	}

	_ = local.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, err := w.WriteThenWait([]byte("ping")); n != 4 || err == nil {
		t.Fatalf("with no answer before the deadline: wrote %d, error %v", n, err)
	}
	if NewWriter(nil) != nil {
		t.Fatal("a writer for a connection without a raw connection")
	}
}

package peek

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/stablering/stablering/gateway/internal/loopback"
)

// eventually waits up to a second for cond: bytes on loopback arrive at once, but not
// synchronously with the peer's write.
func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return true
		}
	}
	return false
}

func TestIdle(t *testing.T) {
	local, remote := loopback.Pair(t)
	p := New(local)
	if !p.Idle() {
		t.Fatal("a fresh connection is not idle")
	}
	if _, err := io.WriteString(remote, "x"); err != nil {
		t.Fatal(err)
	}
	if !eventually(func() bool { return !p.Idle() }) {
		t.Fatal("still idle after the peer wrote")
	}
	buf := make([]byte, 1)
	if _, err := io.ReadFull(local, buf); err != nil || buf[0] != 'x' {
		t.Fatalf("the checked byte was consumed: %q %v", buf, err)
	}
	if !p.Idle() {
		t.Fatal("not idle once the byte was read")
	}
	_ = remote.Close()
	if !eventually(func() bool { return !p.Idle() }) {
		t.Fatal("still idle after the peer closed")
	}
	_ = local.Close()
	if p.Idle() {
		t.Fatal("a closed connection is idle")
	}
}

func TestIdleWithoutRawConn(t *testing.T) {
	a, b := net.Pipe()
	defer func() { _ = a.Close(); _ = b.Close() }()
	if New(a).Idle() {
		t.Fatal("a connection without a RawConn cannot be proven idle")
	}
}

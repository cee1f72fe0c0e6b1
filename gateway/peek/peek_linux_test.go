//go:build linux

package peek

import (
	"io"
	"net"
	"testing"

	"github.com/stablering/stablering/gateway/internal/loopback"
)

// TestEnded: pending bytes are not an end, the peer's close is, and nothing is consumed.
func TestEnded(t *testing.T) {
	local, remote := loopback.Pair(t)
	rc := RawConn(local)
	ask := func(check func(fd uintptr) bool) bool {
		var yes bool
		if err := rc.Control(func(fd uintptr) { yes = check(fd) }); err != nil {
			t.Fatal(err)
		}
		return yes
	}
	ended := func() bool { return ask(Ended) }
	if ended() {
		t.Fatal("a fresh connection has ended")
	}
	if _, err := io.WriteString(remote, "x"); err != nil {
		t.Fatal(err)
	}
	_ = remote.(*net.TCPConn).CloseWrite()
	if !eventually(func() bool { return ask(Readable) }) || ended() {
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

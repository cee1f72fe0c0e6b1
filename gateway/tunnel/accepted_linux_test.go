package tunnel

import (
	"net"
	"testing"
	"time"

	"github.com/stablering/stablering/gateway/internal/accept"
)

// TestRawTunnelTakesAcceptedSocket: a raw tunnel takes the socket of a client connection from
// package accept as it is, when it never entered Go's netpoller, and a duplicate of it when a
// read had to wait; bytes flow both ways either way.
func TestRawTunnelTakesAcceptedSocket(t *testing.T) {
	for _, waited := range []bool{false, true} {
		name := map[bool]string{false: "bare", true: "waited"}[waited]
		t.Run(name, func(t *testing.T) {
			mode{name: "raw-accepted", raw: true, dial: true, accept: true}.set(t)
			accepted := -1
			r := startRig(t, Options{WebSocket: true, CloseGrace: grace}, func(c net.Conn) net.Conn {
				ac, ok := c.(*accept.Conn)
				if !ok {
					return c // the backend
				}
				rc, _ := ac.SyscallConn()
				_ = rc.Control(func(fd uintptr) { accepted = int(fd) })
				if waited {
					_ = ac.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
					if _, err := ac.Read(make([]byte, 1)); !isTimeout(err) {
						t.Fatalf("read with nothing to read: %v, want a timeout", err)
					}
					_ = ac.SetReadDeadline(time.Time{})
				}
				return c
			})
			if accepted < 0 {
				t.Fatal("the client's end is not from package accept")
			}
			r.copyBothWays(t)
			r.tun.mu.Lock()
			rt := r.tun.rt
			r.tun.mu.Unlock()
			if rt == nil {
				t.Fatal("the tunnel does not run as a raw tunnel")
			}
			if took := rt.fd[client] == accepted; took == waited {
				t.Errorf("the raw tunnel's client socket is %d, the accepted one %d: want them equal only when no read waited", rt.fd[client], accepted)
			}
			_ = r.backend.Close()
			expectEOF(t, r.client)
			<-r.done
		})
	}
}

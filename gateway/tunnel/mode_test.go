package tunnel

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stablering/stablering/gateway/internal/accept"
	"github.com/stablering/stablering/gateway/internal/loopback"
)

// mode is a way tunnels run: as raw tunnels on an event loop, or on goroutines; dial says the
// tunnel's backend connection is a Conn from Dial, as the gateway's WebSocket members are, and
// accept that its client connection was accepted by package accept, as the gateway's are.
type mode struct {
	name   string
	raw    bool
	dial   bool
	accept bool
}

// dialBackends makes backendPair dial with Dial; acceptClients makes clientPair accept with
// package accept.
var dialBackends, acceptClients = false, false

// set makes tunnels started until tb ends run in mode m.
func (m mode) set(tb testing.TB) {
	was, wasDial, wasAccept := rawTunnels, dialBackends, acceptClients
	rawTunnels, dialBackends, acceptClients = m.raw, m.dial, m.accept
	tb.Cleanup(func() { rawTunnels, dialBackends, acceptClients = was, wasDial, wasAccept })
}

// eachMode runs test once for every mode this system has.
func eachMode(t *testing.T, test func(t *testing.T)) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			m.set(t)
			test(t)
		})
	}
}

// clientPair returns both ends of a loopback TCP connection for a tunnel's client: the test's
// and the tunnel's, which package accept accepts in the modes that say so.
func clientPair(t *testing.T) (clientEnd, tunnelEnd net.Conn) {
	if !acceptClients {
		return loopback.Pair(t)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	al, err := accept.Take(ln.(*net.TCPListener))
	if err != nil {
		t.Fatal(err)
	}
	return loopback.PairOn(t, al, func(address string) (net.Conn, error) { return net.Dial("tcp", address) })
}

// backendPair returns both ends of a loopback TCP connection for a tunnel's backend: the
// test's (the member's) and the tunnel's, which Dial makes in the modes that say so.
func backendPair(t *testing.T) (member, tunnelEnd net.Conn) {
	if !dialBackends {
		return loopback.Pair(t)
	}
	tunnelEnd, member = loopback.PairWith(t, func(address string) (net.Conn, error) {
		return Dial(context.Background(), address, DialOptions{Timeout: 2 * time.Second})
	})
	if _, ok := tunnelEnd.(*Conn); !ok {
		t.Fatalf("Dial returned a %T, want a *Conn", tunnelEnd)
	}
	return member, tunnelEnd
}

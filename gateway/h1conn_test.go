package gateway

import (
	"net"
	"testing"
)

// TestRemoteHost checks that a client's address gives X-Forwarded-For what the host part of
// its text is, for every kind of address.
func TestRemoteHost(t *testing.T) {
	for _, a := range []net.Addr{
		&net.TCPAddr{IP: net.IPv4(127, 0, 79, 1), Port: 41000},
		&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 443},
		&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 8080, Zone: "eth0"},
		&net.TCPAddr{Port: 80},
		&net.UnixAddr{Name: "/run/gateway.sock", Net: "unix"},
		&net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 53},
	} {
		want, _, err := net.SplitHostPort(a.String())
		if err != nil {
			want = ""
		}
		if got := remoteHost(a); got != want {
			t.Errorf("remoteHost(%s) = %q, want %q", a, got, want)
		}
	}
}

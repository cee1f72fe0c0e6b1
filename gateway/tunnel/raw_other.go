//go:build !linux

package tunnel

// rawTunnels has no effect here: tunnels run on goroutines.
var rawTunnels = false

// rawTunnel is Linux's; elsewhere tunnels run on goroutines.
type rawTunnel struct{}

// startRaw reports that t cannot run as a raw tunnel here.
func (t *Tunnel) startRaw() bool { return false }

func (*rawTunnel) close(uint16, string) {}
func (*rawTunnel) kill()                {}

package tunnel

import (
	"errors"
	"time"
)

// DialOptions are how Dial connects.
type DialOptions struct {
	// Timeout bounds the connect; zero for none (the context's deadline still applies).
	Timeout time.Duration
	// KeepAliveIdle turns on TCP keep-alive probes after this long without data; zero for
	// none.
	KeepAliveIdle time.Duration
}

// ErrNoLoop says Dial cannot open a connection on an event loop: the system has none, no
// loop runs (a single processor, or the loop failed), raw tunnels are off, or the address is
// not an IP address and port. The caller dials the usual way.
var ErrNoLoop = errors.New("tunnel: no event loop for a raw connection")

package upstream

import (
	"context"
	"errors"
	"net"
	"syscall"

	"github.com/stablering/stablering/gateway/tunnel"
)

// Dialer connects to members and tells the member's failures from the gateway's own.
type Dialer struct {
	net.Dialer
	// LocalError is called with the errno's name for each failure that is the gateway's own
	// (see LocalError); nil ignores them.
	LocalError func(errno string)
}

// DialError is a failure to connect that the member is to blame for: refused, unreachable,
// timed out.
type DialError struct{ Err error }

func (e *DialError) Error() string { return "dial: " + e.Err.Error() }
func (e *DialError) Unwrap() error { return e.Err }

// LocalError is a failure to connect that is the gateway's own: it ran out of descriptors,
// memory or local ports. It says nothing about the member.
type LocalError struct {
	Err   error
	Errno string // the errno's name, e.g. EMFILE
}

func (e *LocalError) Error() string { return "local resources: " + e.Err.Error() }
func (e *LocalError) Unwrap() error { return e.Err }

// localErrnos are the errors of connect(2) and socket(2) that are the gateway's own.
var localErrnos = []struct {
	errno syscall.Errno
	name  string
}{
	{syscall.EMFILE, "EMFILE"},
	{syscall.ENFILE, "ENFILE"},
	{syscall.ENOBUFS, "ENOBUFS"},
	{syscall.ENOMEM, "ENOMEM"},
	{syscall.EADDRNOTAVAIL, "EADDRNOTAVAIL"},
}

// Dial connects to address. Its errors are *LocalError when the gateway is out of local
// resources, and *DialError otherwise.
func (d *Dialer) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := d.DialContext(ctx, network, address)
	if err == nil {
		return c, nil
	}
	return nil, d.Failed(err)
}

// DialTunnel connects to address for a connection that becomes a tunnel's backend: on an
// event loop of package tunnel, whose raw tunnel then takes the socket as it is (see
// tunnel.Dial), with the dialer's timeout and keep-alive idle time (KeepAliveConfig); where
// no loop can, as Dial does. Its errors are those of Dial.
func (d *Dialer) DialTunnel(ctx context.Context, network, address string) (net.Conn, error) {
	opts := tunnel.DialOptions{Timeout: d.Timeout}
	if d.KeepAliveConfig.Enable {
		opts.KeepAliveIdle = d.KeepAliveConfig.Idle
	}
	c, err := tunnel.Dial(ctx, address, opts)
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, tunnel.ErrNoLoop):
		return d.Dial(ctx, network, address)
	}
	return nil, d.Failed(err)
}

// Failed returns err, a failure to connect, as a *LocalError or a *DialError.
func (d *Dialer) Failed(err error) error {
	for _, l := range localErrnos {
		if errors.Is(err, l.errno) {
			if d.LocalError != nil {
				d.LocalError(l.name)
			}
			return &LocalError{Err: err, Errno: l.name}
		}
	}
	return &DialError{err}
}

// IsTimeout reports whether err is a timeout.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

package upstream

import (
	"context"
	"errors"
	"net"
	"syscall"
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
	for _, l := range localErrnos {
		if errors.Is(err, l.errno) {
			if d.LocalError != nil {
				d.LocalError(l.name)
			}
			return nil, &LocalError{Err: err, Errno: l.name}
		}
	}
	return nil, &DialError{err}
}

// IsTimeout reports whether err is a timeout.
func IsTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

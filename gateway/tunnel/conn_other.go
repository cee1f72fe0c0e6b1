//go:build !linux

package tunnel

import (
	"context"
	"net"
)

// Dial returns ErrNoLoop: connections on an event loop are Linux's.
func Dial(context.Context, string, DialOptions) (net.Conn, error) { return nil, ErrNoLoop }

//go:build !linux

package tunnel

import (
	"errors"
	"syscall"
)

// waitReadable returns at once on systems without the Linux peek; the copy loops then hold a
// buffer while they wait.
func waitReadable(syscall.RawConn) error { return nil }

// pump is not used here: directions cannot park, and only those that may park pump.
func (d *direction) pump() error { return errors.ErrUnsupported }

// step is not used here.
func (d *direction) step(uintptr) bool { return true }

// errForwardStopped is not used here.
var errForwardStopped = errors.New("forwarding stopped")

//go:build !linux

package tunnel

import "syscall"

// waitReadable returns at once on systems without the Linux peek; the copy loops then hold a
// buffer while they wait.
func waitReadable(syscall.RawConn) error { return nil }

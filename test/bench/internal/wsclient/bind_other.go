//go:build !linux

package wsclient

import "syscall"

// bindNoPort does nothing outside Linux.
func bindNoPort(_, _ string, _ syscall.RawConn) error { return nil }

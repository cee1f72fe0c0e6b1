// Package childproc holds what the test infrastructure's child processes (control plane
// components, pods run as processes) have in common.
package childproc

import "syscall"

// SysProcAttr puts a child in a process group of its own (so a terminal's Ctrl-C reaches only
// the parent, which stops its children in order, and the child and its own children can be
// signalled together) and kills it if the parent dies first.
func SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

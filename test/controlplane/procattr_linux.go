package controlplane

import "syscall"

// sysProcAttr puts a child in its own process group and kills it if the parent dies first.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

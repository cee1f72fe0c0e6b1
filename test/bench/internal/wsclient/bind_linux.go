package wsclient

import "syscall"

// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT (linux/in.h), which the syscall package
// lacks.
const ipBindAddressNoPort = 24

// bindNoPort makes a socket bound to a local address take its port at connect time, when
// the kernel knows the whole 4-tuple and can reuse ports in TIME_WAIT towards other
// destinations. Binding picks a port at bind time otherwise, which slows to a crawl once
// tens of thousands of recently closed connections hold the ports (the upgrade benchmark
// closes thousands per second).
func bindNoPort(_, _ string, c syscall.RawConn) error {
	var err error
	if cerr := c.Control(func(fd uintptr) {
		err = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	}); cerr != nil {
		return cerr
	}
	return err
}

package gateway

import (
	"net"
	"syscall"
)

// listenConfig sets the client connections' TCP keep-alive (tcpKeepAlive) once, on the
// listening socket: Linux copies a listening socket's SO_KEEPALIVE and TCP_KEEPIDLE to every
// connection it accepts, so accepting costs no system call for them (TestAcceptedKeepAlive pins
// it), where setting them on each connection costs two.
func listenConfig() net.ListenConfig {
	return net.ListenConfig{
		KeepAlive: -1, // not per connection: inherited from the listener
		Control: func(_, _ string, c syscall.RawConn) error {
			var err error
			ctrlErr := c.Control(func(fd uintptr) {
				if err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1); err != nil {
					return
				}
				err = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, int(tcpKeepAlive.Idle.Seconds()))
			})
			if ctrlErr != nil {
				return ctrlErr
			}
			return err
		},
	}
}

package gateway

import (
	"net"
	"syscall"

	"github.com/stablering/stablering/gateway/internal/sockopt"
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
			ctrlErr := c.Control(func(fd uintptr) { err = sockopt.KeepAlive(int(fd), tcpKeepAlive.Idle) })
			if ctrlErr != nil {
				return ctrlErr
			}
			return err
		},
	}
}

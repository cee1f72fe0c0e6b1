package tunnel

import (
	"syscall"

	"github.com/stablering/stablering/gateway/peek"
)

// waitReadable parks until rc has data to read, has reached EOF or has failed, without
// holding a buffer. It returns the connection's error, such as an expired read deadline or a
// closed connection. A nil rc returns at once.
func waitReadable(rc syscall.RawConn) error {
	if rc == nil {
		return nil
	}
	return rc.Read(peek.Readable)
}

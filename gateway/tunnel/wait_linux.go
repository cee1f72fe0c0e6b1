package tunnel

import (
	"errors"
	"io"
	"os"
	"syscall"
	"time"

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

// errForwardStopped ends a pump whose forward function said to stop.
var errForwardStopped = errors.New("forwarding stopped")

// pump reads d's source and hands each read to forward, within one RawConn.Read call, until
// forward says to stop (errForwardStopped), the source ends (io.EOF) or fails, or its read
// deadline passes. After a read that does not fill the buffer the socket has nothing more, so
// pump waits for the next data without the read that would find nothing: one read and one
// write per message and direction, as an event loop does. Go's reads try the socket first and
// wait only after it answers EAGAIN, and a new RawConn.Read call forgets a readiness reported
// before it (so it must try first); within one call nothing is forgotten. A buffer is taken
// from the pool for each read and given back before any wait, so a waiting direction holds
// none.
func (d *direction) pump() error {
	d.pumpErr = nil
	if err := d.src.Read(d.pumpStep); err != nil {
		return err
	}
	return d.pumpErr
}

// extendLinger moves the linger's deadline to a second after now, so that a direction parks
// after a second without data rather than a second after its pump began; at most eight times
// a second. False when d may no longer park (the tunnel shut, or a close began).
func (d *direction) extendLinger() bool {
	now := time.Now()
	if time.Duration(d.lingerUntil-now.UnixNano()) > linger*7/8 {
		return true
	}
	until := now.Add(linger)
	d.lingerUntil = until.UnixNano()
	return d.t.setLinger(d, until)
}

// forward passes data read from d's source on to the other side.
func (d *direction) forward(data []byte) bool {
	if d == &d.t.up {
		return d.t.forwardUp(data)
	}
	return d.t.forwardDown(data)
}

// step is pump's RawConn.Read function: it reports true to end the pump.
func (d *direction) step(fd uintptr) bool {
	for {
		buf := d.t.opts.Pool.Get()
		n, err := syscall.Read(int(fd), buf)
		switch {
		case errors.Is(err, syscall.EINTR):
			d.t.release(buf)
			continue
		case errors.Is(err, syscall.EAGAIN):
			d.t.release(buf)
			return false
		case err != nil:
			d.t.release(buf)
			d.pumpErr = os.NewSyscallError("read", err)
			return true
		case n == 0:
			d.t.release(buf)
			d.pumpErr = io.EOF
			return true
		}
		ok := d.forward(buf[:n]) && d.extendLinger()
		d.t.release(buf)
		switch {
		case !ok:
			d.pumpErr = errForwardStopped
			return true
		case n < len(buf):
			return false
		}
	}
}

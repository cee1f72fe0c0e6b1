// Package tunnel splices a client connection and a backend connection after an HTTP upgrade
// (a WebSocket, or any other protocol switch), copying both directions with pooled buffers.
//
// An idle tunnel holds no buffer: on Linux each direction waits until its source is readable
// before it takes a buffer from the pool, and returns the buffer once the source is drained, so
// an idle tunnel costs two parked goroutines and the connections. A source without a
// syscall.RawConn (a TLS connection, or on other systems) is read with a pooled buffer that is
// held while it waits.
//
// [Tunnel.Close] ends a WebSocket gracefully from the proxy's side: the backend-to-client
// direction stops at the next frame boundary, the client receives a Close frame with the given
// status code, the client's answering Close frame is forwarded to the backend, and both
// connections are closed. Tunnels that are not WebSockets, or whose framing the tracker cannot
// follow, are closed without a Close frame. A close is bounded whatever the peers do: reaching
// the frame boundary and writing the Close frame get one close grace from Close (so does a
// write to the client blocked at that moment), the client's answer one more grace, and two
// graces after Close both connections are closed in any case.
//
// A write in either direction that does not complete within the send timeout ends the tunnel,
// so a peer that stops reading cannot hold it. Reads are not bounded: a WebSocket may stay idle
// for hours.
package tunnel

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/stablering/stablering/gateway/bufpool"
	"github.com/stablering/stablering/gateway/wsframe"
)

// Options configure a tunnel.
type Options struct {
	// WebSocket says the tunnel carries WebSocket frames, so closes can send a Close frame.
	WebSocket bool
	// Pool provides the copy buffers.
	Pool *bufpool.Pool
	// CloseGrace bounds each step of a graceful close: reaching a frame boundary and sending
	// the Close frame, and then the client's answering Close frame. Two graces after Close,
	// both connections are closed.
	CloseGrace time.Duration
	// SendTimeout bounds each write in either direction, of at most one pool buffer: a write
	// that does not complete in time ends the tunnel. 0 means no timeout.
	SendTimeout time.Duration
}

// Tunnel is a spliced pair of connections.
type Tunnel struct {
	client, backend net.Conn
	clientRaw       syscall.RawConn // nil when the connection has none
	backendRaw      syscall.RawConn
	opts            Options

	mu       sync.Mutex
	closing  []byte      // the Close frame requested, nil until Close
	graceEnd time.Time   // when the wait for a frame boundary, and writes to the client, end
	armed    bool        // the backend's read deadline has been moved to graceEnd
	hardStop *time.Timer // closes both connections two graces after Close
	shutDown bool        // both connections are closed

	clientClosed chan struct{} // closed when the client's Close frame has been forwarded
	closeSeen    sync.Once
}

// New returns a tunnel between client and backend. Bytes already read from either side (for
// example buffered with the upgrade response) must be written to the other side before Run.
func New(client, backend net.Conn, opts Options) *Tunnel {
	return &Tunnel{
		client:       client,
		backend:      backend,
		clientRaw:    rawConn(client),
		backendRaw:   rawConn(backend),
		opts:         opts,
		clientClosed: make(chan struct{}),
	}
}

// Run copies both directions until one side ends or a close completes, then closes both
// connections. It returns when both directions have stopped.
func (t *Tunnel) Run() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		t.toBackend()
	}()
	t.toClient(done)
	t.shut()
	<-done
}

// Close asks for a graceful close with a WebSocket status code and reason, and returns at
// once. Only the first call has an effect; after the tunnel has ended it has none.
func (t *Tunnel) Close(code uint16, reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing != nil || t.shutDown {
		return
	}
	now := time.Now()
	t.closing = wsframe.CloseFrame(code, reason)
	t.graceEnd = now.Add(t.opts.CloseGrace)
	// Wake toClient, which may be waiting for the backend, and bound its write to the client,
	// which may be blocked.
	_ = t.backend.SetReadDeadline(now)
	_ = t.client.SetWriteDeadline(t.writeDeadline(true, now))
	// The deadlines and finishClose's timer end the close within two graces; the hard stop
	// guarantees it, even for a connection whose deadlines do not work.
	t.hardStop = time.AfterFunc(2*t.opts.CloseGrace, t.shut)
}

// Kill closes both connections at once.
func (t *Tunnel) Kill() { t.shut() }

// shut closes both connections, once, and stops the hard stop of a close.
func (t *Tunnel) shut() {
	t.mu.Lock()
	already := t.shutDown
	t.shutDown = true
	if t.hardStop != nil {
		t.hardStop.Stop()
	}
	t.mu.Unlock()
	if !already {
		_ = t.client.Close()
		_ = t.backend.Close()
	}
}

// toClient copies backend to client until the backend ends, a write fails, or a requested
// close is finished. done is closed when toBackend has returned.
func (t *Tunnel) toClient(done <-chan struct{}) {
	var tr wsframe.Tracker
	var buf []byte
	defer func() { t.release(buf) }()
	for {
		if frame := t.closeFrame(); frame != nil {
			if !t.opts.WebSocket || tr.Err() != nil || !t.armGrace() {
				return
			}
			if tr.AtBoundary() {
				t.finishClose(frame, done)
				return
			}
		}
		if buf == nil {
			if err := waitReadable(t.backendRaw); err != nil {
				if t.woken(err) {
					continue
				}
				return
			}
			buf = t.opts.Pool.Get()
		}
		n, err := t.backend.Read(buf)
		if n > 0 && !t.forwardToClient(&tr, buf[:n]) {
			return
		}
		if err != nil {
			if t.woken(err) {
				continue
			}
			return
		}
		if n < len(buf) {
			t.release(buf)
			buf = nil
		}
	}
}

// forwardToClient writes data to the client. While a close is pending it writes only up to
// the end of the current frame and drops the rest. It reports whether the write succeeded.
func (t *Tunnel) forwardToClient(tr *wsframe.Tracker, data []byte) bool {
	switch {
	case !t.opts.WebSocket: // no frames to follow
	case t.closeFrame() != nil:
		n, _ := tr.Advance(data)
		data = data[:n]
	default:
		tr.Skip(data)
	}
	return t.writeClient(data)
}

// finishClose sends the Close frame at a frame boundary and waits (at most the grace) for the
// client to answer with its own Close frame, or to go away.
func (t *Tunnel) finishClose(frame []byte, done <-chan struct{}) {
	if !t.writeClient(frame) {
		return
	}
	timer := time.NewTimer(t.opts.CloseGrace)
	defer timer.Stop()
	select {
	case <-t.clientClosed:
	case <-done:
	case <-timer.C:
	}
}

// toBackend copies client to backend until either side ends. It signals clientClosed once a
// Close frame from the client has been forwarded.
func (t *Tunnel) toBackend() {
	defer t.shutUnlessClosing()
	var tr wsframe.Tracker
	for {
		if err := waitReadable(t.clientRaw); err != nil {
			return
		}
		buf := t.opts.Pool.Get()
		ok := t.drainClient(&tr, buf)
		t.release(buf)
		if !ok {
			return
		}
	}
}

// drainClient copies client to backend with buf until a read returns less than a full buffer.
// It reports whether the tunnel should keep going.
func (t *Tunnel) drainClient(tr *wsframe.Tracker, buf []byte) bool {
	for {
		n, err := t.client.Read(buf)
		if n > 0 {
			if !t.writeBackend(buf[:n]) {
				return false
			}
			if t.opts.WebSocket && sawClose(tr, buf[:n]) {
				t.closeSeen.Do(func() { close(t.clientClosed) })
			}
		}
		if err != nil {
			return false
		}
		if n < len(buf) {
			return true
		}
	}
}

// shutUnlessClosing ends the tunnel when the client side ended by itself; during a graceful
// close, toClient finishes the handshake and ends it.
func (t *Tunnel) shutUnlessClosing() {
	if t.closeFrame() == nil {
		t.shut()
	}
}

// sawClose feeds data to tr and reports whether a Close frame ended in it.
func sawClose(tr *wsframe.Tracker, data []byte) bool {
	seen := false
	for len(data) > 0 {
		n, end := tr.Advance(data)
		data = data[n:]
		seen = seen || end && tr.Opcode() == wsframe.OpClose
	}
	return seen
}

func (t *Tunnel) closeFrame() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closing
}

// armGrace makes reads from the backend wait until the end of the grace (Close woke them at
// once) on the first call, and reports whether the grace is still running.
func (t *Tunnel) armGrace() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.armed {
		t.armed = true
		_ = t.backend.SetReadDeadline(t.graceEnd)
	}
	return time.Now().Before(t.graceEnd)
}

// woken reports whether err is the read deadline that Close or armGrace set, so toClient
// should look at the pending close again.
func (t *Tunnel) woken(err error) bool {
	return isTimeout(err) && t.closeFrame() != nil
}

func (t *Tunnel) release(buf []byte) {
	if buf != nil {
		t.opts.Pool.Put(buf)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// writeClient and writeBackend write data to one side of the tunnel; see write.
func (t *Tunnel) writeClient(data []byte) bool  { return t.write(t.client, true, data) }
func (t *Tunnel) writeBackend(data []byte) bool { return t.write(t.backend, false, data) }

// write writes data to c, the client or the backend, and reports success. net.Conn writes are
// complete unless they fail.
//
// The write deadline is set before each write, as that is where a peer that does not read
// blocks the tunnel. It costs about 0.15 µs (time.Now, an uncontended lock and the update of
// a runtime timer; no system call, no allocation), against a few µs for the write itself.
func (t *Tunnel) write(c net.Conn, toClient bool, data []byte) bool {
	t.mu.Lock()
	if d := t.writeDeadline(toClient, time.Now()); !d.IsZero() {
		_ = c.SetWriteDeadline(d)
	}
	t.mu.Unlock()
	_, err := c.Write(data)
	return err == nil
}

// writeDeadline returns the deadline of a write starting at now, zero for none: the send
// timeout or, for a write to the client during a close, the end of the grace if that comes
// first. The caller holds t.mu, so that Close cannot slip between the choice of a deadline and
// its setting.
func (t *Tunnel) writeDeadline(toClient bool, now time.Time) time.Time {
	var d time.Time
	if t.opts.SendTimeout > 0 {
		d = now.Add(t.opts.SendTimeout)
	}
	if toClient && t.closing != nil && (d.IsZero() || t.graceEnd.Before(d)) {
		d = t.graceEnd
	}
	return d
}

// rawConn returns c's syscall.RawConn, or nil.
func rawConn(c net.Conn) syscall.RawConn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

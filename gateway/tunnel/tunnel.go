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
// direction stops at the next frame boundary (waiting at most the close grace for it), the
// client receives a Close frame with the given status code, the client's answering Close frame
// is forwarded to the backend, and both connections are closed. Tunnels that are not
// WebSockets, or whose framing the tracker cannot follow, are closed without a Close frame.
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
	// CloseGrace bounds each step of a graceful close: reaching a frame boundary, and then the
	// client's answering Close frame.
	CloseGrace time.Duration
}

// Tunnel is a spliced pair of connections.
type Tunnel struct {
	client, backend net.Conn
	clientRaw       syscall.RawConn // nil when the connection has none
	backendRaw      syscall.RawConn
	opts            Options

	mu       sync.Mutex
	closing  []byte    // the Close frame requested, nil until Close
	graceEnd time.Time // when the wait for a frame boundary ends

	clientClosed chan struct{} // closed when the client's Close frame has been forwarded
	closeSeen    sync.Once
	shutOnce     sync.Once
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
// once. Only the first call has an effect.
func (t *Tunnel) Close(code uint16, reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing != nil {
		return
	}
	t.closing = wsframe.CloseFrame(code, reason)
	// Wake toClient, which may be waiting for the backend.
	_ = t.backend.SetReadDeadline(time.Now())
}

// Kill closes both connections at once.
func (t *Tunnel) Kill() { t.shut() }

func (t *Tunnel) shut() {
	t.shutOnce.Do(func() {
		_ = t.client.Close()
		_ = t.backend.Close()
	})
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
	if !t.opts.WebSocket {
		return writeAll(t.client, data)
	}
	if t.closeFrame() != nil {
		n, _ := tr.Advance(data)
		return writeAll(t.client, data[:n])
	}
	tr.Skip(data)
	return writeAll(t.client, data)
}

// finishClose sends the Close frame at a frame boundary and waits (at most the grace) for the
// client to answer with its own Close frame, or to go away.
func (t *Tunnel) finishClose(frame []byte, done <-chan struct{}) {
	_ = t.client.SetWriteDeadline(time.Now().Add(t.opts.CloseGrace))
	if !writeAll(t.client, frame) {
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
			if !writeAll(t.backend, buf[:n]) {
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

// armGrace starts the wait for a frame boundary on the first call, and reports whether it is
// still running.
func (t *Tunnel) armGrace() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	if t.graceEnd.IsZero() {
		t.graceEnd = now.Add(t.opts.CloseGrace)
		_ = t.backend.SetReadDeadline(t.graceEnd)
	}
	return now.Before(t.graceEnd)
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

// writeAll writes data and reports success. net.Conn writes are complete unless they fail.
func writeAll(c net.Conn, data []byte) bool {
	_, err := c.Write(data)
	return err == nil
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

package tunnel

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stablering/stablering/gateway/bufpool"
	"github.com/stablering/stablering/gateway/wsframe"
)

// rig is a tunnel between a client end and a backend end, both held by the test.
type rig struct {
	client, backend net.Conn // the test's ends
	tun             *Tunnel
	done            chan struct{}
}

// grace is the tests' CloseGrace.
const grace = 300 * time.Millisecond

func newRig(t *testing.T, websocket bool) *rig {
	return startRig(t, Options{WebSocket: websocket, CloseGrace: grace}, nil)
}

// startRig runs a tunnel with opts and a pool of small buffers. wrap, when not nil, wraps the
// tunnel's ends of both connections.
func startRig(t *testing.T, opts Options, wrap func(net.Conn) net.Conn) *rig {
	clientEnd, gwClient := clientPair(t)
	backendEnd, gwBackend := backendPair(t)
	if wrap != nil {
		gwClient, gwBackend = wrap(gwClient), wrap(gwBackend)
	}
	opts.Pool = bufpool.New(1024, 4)
	r := &rig{client: clientEnd, backend: backendEnd, done: make(chan struct{})}
	r.tun = New(gwClient, gwBackend, opts)
	go func() {
		defer close(r.done)
		r.tun.Run()
	}()
	return r
}

func frame(op wsframe.Opcode, masked bool, payload []byte) []byte {
	b1 := byte(len(payload))
	if masked {
		b1 |= 0x80
	}
	out := []byte{0x80 | byte(op), b1}
	if masked {
		out = append(out, 0, 0, 0, 0) // a zero mask leaves the payload as is
	}
	return append(out, payload...)
}

func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, n)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("reading %d bytes: %v", n, err)
	}
	return buf
}

func expectEOF(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, err := c.Read(make([]byte, 64)); err == nil {
		t.Fatalf("read %d more bytes, want the connection closed", n)
	}
}

func TestCopiesBothWays(t *testing.T) { eachMode(t, testCopiesBothWays) }

func testCopiesBothWays(t *testing.T) {
	r := newRig(t, true)
	r.copyBothWays(t)
	_ = r.backend.Close()
	expectEOF(t, r.client)
	<-r.done
}

// copyBothWays sends more than the pool's buffers hold from the client to the backend, then
// from the backend to the client, and checks both arrive whole.
func (r *rig) copyBothWays(t *testing.T) {
	t.Helper()
	big := bytes.Repeat([]byte("0123456789"), 1000)
	go func() { _, _ = r.client.Write(big) }()
	if got := readN(t, r.backend, len(big)); !bytes.Equal(got, big) {
		t.Fatal("client to backend corrupted")
	}
	go func() { _, _ = r.backend.Write(big) }()
	if got := readN(t, r.client, len(big)); !bytes.Equal(got, big) {
		t.Fatal("backend to client corrupted")
	}
}

// TestWaitsForAFullBackend sends the backend more than its socket takes while it does not
// read, then reads it all: the tunnel must wait for the backend's socket to take more (a
// dialled backend is not registered for that until a write finds it full).
func TestWaitsForAFullBackend(t *testing.T) { eachMode(t, testWaitsForAFullBackend) }

func testWaitsForAFullBackend(t *testing.T) {
	r := newRig(t, false)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	go func() { _, _ = r.client.Write(big) }()
	time.Sleep(200 * time.Millisecond) // both sockets' buffers fill; the tunnel waits
	if got := readN(t, r.backend, len(big)); !bytes.Equal(got, big) {
		t.Fatal("client to backend corrupted")
	}
	_ = r.backend.Close()
	expectEOF(t, r.client)
	<-r.done
}

// TestCloseAtFrameBoundary requests a close while the backend is in the middle of a frame:
// the client gets the rest of that frame, then the Close frame, and its answering Close frame
// reaches the backend before both connections close.
func TestCloseAtFrameBoundary(t *testing.T) { eachMode(t, testCloseAtFrameBoundary) }

func testCloseAtFrameBoundary(t *testing.T) {
	r := newRig(t, true)
	first := frame(wsframe.OpText, false, []byte("complete"))
	second := frame(wsframe.OpText, false, []byte("split across writes"))
	_, _ = r.backend.Write(append(first, second[:5]...))
	readN(t, r.client, len(first)+5)

	r.tun.Close(wsframe.CloseServiceRestart, "restart")
	time.Sleep(50 * time.Millisecond)
	_, _ = r.backend.Write(append(second[5:], frame(wsframe.OpText, false, []byte("dropped"))...))
	readN(t, r.client, len(second)-5)
	closeFrame := wsframe.CloseFrame(wsframe.CloseServiceRestart, "restart")
	if got := readN(t, r.client, len(closeFrame)); !bytes.Equal(got, closeFrame) {
		t.Fatalf("got %q, want the close frame", got)
	}
	answer := frame(wsframe.OpClose, true, binary.BigEndian.AppendUint16(nil, 1012))
	_, _ = r.client.Write(answer)
	if got := readN(t, r.backend, len(answer)); !bytes.Equal(got, answer) {
		t.Fatal("the client's close did not reach the backend")
	}
	expectEOF(t, r.client)
	<-r.done
}

// TestCloseIdle closes an idle WebSocket at once with a Close frame.
func TestCloseIdle(t *testing.T) { eachMode(t, testCloseIdle) }

func testCloseIdle(t *testing.T) {
	r := newRig(t, true)
	start := time.Now()
	r.tun.Close(wsframe.CloseGoingAway, "bye")
	closeFrame := wsframe.CloseFrame(wsframe.CloseGoingAway, "bye")
	if got := readN(t, r.client, len(closeFrame)); !bytes.Equal(got, closeFrame) {
		t.Fatalf("got %q", got)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("idle close took %v", d)
	}
	// The client never answers: the tunnel ends after the grace.
	expectEOF(t, r.client)
	<-r.done
}

// TestCloseStalledFrame gives up on a frame boundary after the grace: no Close frame, the
// connections just close.
func TestCloseStalledFrame(t *testing.T) { eachMode(t, testCloseStalledFrame) }

func testCloseStalledFrame(t *testing.T) {
	r := newRig(t, true)
	partial := frame(wsframe.OpBinary, false, make([]byte, 100))[:20]
	_, _ = r.backend.Write(partial)
	readN(t, r.client, len(partial))
	start := time.Now()
	r.tun.Close(wsframe.CloseServiceRestart, "restart")
	expectEOF(t, r.client)
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("closed after %v, before the grace", d)
	}
	<-r.done
}

// TestCloseOtherProtocol closes a non-WebSocket tunnel without writing anything.
func TestCloseOtherProtocol(t *testing.T) { eachMode(t, testCloseOtherProtocol) }

func testCloseOtherProtocol(t *testing.T) {
	r := newRig(t, false)
	r.tun.Close(wsframe.CloseGoingAway, "bye")
	expectEOF(t, r.client)
	expectEOF(t, r.backend)
	<-r.done
}

func TestKill(t *testing.T) { eachMode(t, testKill) }

func testKill(t *testing.T) {
	r := newRig(t, true)
	r.tun.Kill()
	expectEOF(t, r.client)
	expectEOF(t, r.backend)
	<-r.done
	r.tun.Close(wsframe.CloseGoingAway, "late") // harmless after the end
}

// stall makes one end of the test stop reading while the other floods the tunnel with WebSocket
// frames: the backend stalls and the client floods, or the reverse. It returns the stalled end
// and a channel closed once the flooding end's writes fail.
func (r *rig) stall(backendStalls bool) (stalled net.Conn, floodEnded <-chan struct{}) {
	stalled, flooder := r.client, r.backend
	if backendStalls {
		stalled, flooder = r.backend, r.client
	}
	data := bytes.Repeat(frame(wsframe.OpBinary, backendStalls, make([]byte, 100)), 100)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		for {
			if _, err := flooder.Write(data); err != nil {
				return
			}
		}
	}()
	return stalled, ended
}

// expectEnded checks that the tunnel closed both connections by deadline: the flooding end's
// writes fail, the stalled end reads what was sent before the close and then EOF or a reset,
// and Run returns.
func (r *rig) expectEnded(t *testing.T, stalled net.Conn, floodEnded <-chan struct{}, deadline time.Time) {
	t.Helper()
	select {
	case <-floodEnded:
	case <-time.After(time.Until(deadline)):
		t.Fatal("the flooding end's connection is still open")
	}
	_ = stalled.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.Copy(io.Discard, stalled); isTimeout(err) {
		t.Fatal("the stalled end's connection is still open")
	}
	select {
	case <-r.done:
	case <-time.After(time.Second):
		t.Fatal("Run has not returned")
	}
}

// ignoreDeadlines is a connection whose deadlines do nothing.
type ignoreDeadlines struct{ net.Conn }

func (ignoreDeadlines) SetDeadline(time.Time) error      { return nil }
func (ignoreDeadlines) SetReadDeadline(time.Time) error  { return nil }
func (ignoreDeadlines) SetWriteDeadline(time.Time) error { return nil }

// TestCloseStalledPeer closes a tunnel while one side does not read and the other floods it:
// both connections are closed within two graces, even when the deadlines do not work.
func TestCloseStalledPeer(t *testing.T) { eachMode(t, testCloseStalledPeer) }

func testCloseStalledPeer(t *testing.T) {
	for _, tc := range []struct {
		name          string
		backendStalls bool
		wrap          func(net.Conn) net.Conn
	}{
		{"client not reading", false, nil},
		{"backend not reading", true, nil},
		{"client not reading, no deadlines", false, func(c net.Conn) net.Conn { return ignoreDeadlines{c} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startRig(t, Options{WebSocket: true, CloseGrace: grace}, tc.wrap)
			stalled, floodEnded := r.stall(tc.backendStalls)
			time.Sleep(200 * time.Millisecond) // the tunnel is blocked in a write
			start := time.Now()
			r.tun.Close(wsframe.CloseServiceRestart, "restart")
			r.expectEnded(t, stalled, floodEnded, start.Add(2*grace+time.Second))
		})
	}
}

// TestSendTimeout ends a tunnel whose client, or backend, stops reading while the other side
// floods it.
func TestSendTimeout(t *testing.T) { eachMode(t, testSendTimeout) }

func testSendTimeout(t *testing.T) {
	const timeout = 500 * time.Millisecond
	for _, tc := range []struct {
		name          string
		backendStalls bool
	}{{"client not reading", false}, {"backend not reading", true}} {
		t.Run(tc.name, func(t *testing.T) {
			r := startRig(t, Options{WebSocket: true, CloseGrace: grace, SendTimeout: timeout}, nil)
			start := time.Now()
			stalled, floodEnded := r.stall(tc.backendStalls)
			r.expectEnded(t, stalled, floodEnded, start.Add(timeout+time.Second))
		})
	}
}

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

// pair returns both ends of a loopback TCP connection.
func pair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	return a, b
}

// rig is a tunnel between a client end and a backend end, both held by the test.
type rig struct {
	client, backend net.Conn // the test's ends
	tun             *Tunnel
	done            chan struct{}
}

func newRig(t *testing.T, websocket bool) *rig {
	clientEnd, gwClient := pair(t)
	backendEnd, gwBackend := pair(t)
	r := &rig{client: clientEnd, backend: backendEnd, done: make(chan struct{})}
	r.tun = New(gwClient, gwBackend, Options{WebSocket: websocket, Pool: bufpool.New(1024, 4), CloseGrace: 300 * time.Millisecond})
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

func TestCopiesBothWays(t *testing.T) {
	r := newRig(t, true)
	big := bytes.Repeat([]byte("0123456789"), 1000) // larger than the pool's buffers
	go func() { _, _ = r.client.Write(big) }()
	if got := readN(t, r.backend, len(big)); !bytes.Equal(got, big) {
		t.Fatal("client to backend corrupted")
	}
	go func() { _, _ = r.backend.Write(big) }()
	if got := readN(t, r.client, len(big)); !bytes.Equal(got, big) {
		t.Fatal("backend to client corrupted")
	}
	_ = r.backend.Close()
	expectEOF(t, r.client)
	<-r.done
}

// TestCloseAtFrameBoundary requests a close while the backend is in the middle of a frame:
// the client gets the rest of that frame, then the Close frame, and its answering Close frame
// reaches the backend before both connections close.
func TestCloseAtFrameBoundary(t *testing.T) {
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
func TestCloseIdle(t *testing.T) {
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
func TestCloseStalledFrame(t *testing.T) {
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
func TestCloseOtherProtocol(t *testing.T) {
	r := newRig(t, false)
	r.tun.Close(wsframe.CloseGoingAway, "bye")
	expectEOF(t, r.client)
	expectEOF(t, r.backend)
	<-r.done
}

func TestKill(t *testing.T) {
	r := newRig(t, true)
	r.tun.Kill()
	expectEOF(t, r.client)
	expectEOF(t, r.backend)
	<-r.done
	r.tun.Close(wsframe.CloseGoingAway, "late") // harmless after the end
}

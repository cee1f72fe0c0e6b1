//go:build linux

package tunnel

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stablering/stablering/gateway/bufpool"
	"github.com/stablering/stablering/gateway/internal/loopback"
	"github.com/stablering/stablering/gateway/wsframe"
)

// started is a tunnel started with Start, and the test's ends of its connections.
type started struct {
	client, backend net.Conn
	tun             *Tunnel
	done            chan struct{} // closed by the done callback
	hold            sync.Mutex    // taken by the done callback
}

// startParked starts a WebSocket tunnel with Start and waits until both directions park.
func startParked(t *testing.T, opts Options) *started {
	t.Helper()
	clientEnd, gwClient := loopback.Pair(t)
	backendEnd, gwBackend := loopback.Pair(t)
	opts.WebSocket = true
	opts.Pool = bufpool.New(1024, 4)
	s := &started{client: clientEnd, backend: backendEnd, done: make(chan struct{})}
	s.tun = New(gwClient, gwBackend, opts)
	s.tun.Start(func() {
		s.hold.Lock()
		defer s.hold.Unlock()
		close(s.done)
	})
	s.waitParked(t)
	return s
}

// parked reports whether the tunnel runs on an event loop, or both directions are parked in a
// poller.
func (s *started) parked() bool {
	s.tun.mu.Lock()
	defer s.tun.mu.Unlock()
	return s.tun.rt != nil || s.tun.up.state == parked && s.tun.down.state == parked
}

func (s *started) waitParked(t *testing.T) {
	t.Helper()
	if !eventually(s.parked) {
		t.Fatal("the tunnel did not park")
	}
}

// waitDone fails unless the done callback is called within d.
func (s *started) waitDone(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(d):
		t.Fatal("done was not called")
	}
}

// eventually waits up to two seconds for cond.
func eventually(cond func() bool) bool {
	deadline := time.Now().Add(2 * time.Second)
	for ; time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// TestIdleTunnelsHoldNoGoroutine opens 200 idle tunnels: they park, and add no goroutine.
func TestIdleTunnelsHoldNoGoroutine(t *testing.T) { eachMode(t, testIdleTunnelsHoldNoGoroutine) }

func testIdleTunnelsHoldNoGoroutine(t *testing.T) {
	startParked(t, Options{CloseGrace: grace}) // the pollers start on first use
	before := runtime.NumGoroutine()
	all := make([]*started, 200)
	for i := range all {
		all[i] = startParked(t, Options{CloseGrace: grace})
	}
	if !eventually(func() bool { return runtime.NumGoroutine() <= before+5 }) {
		t.Fatalf("%d goroutines for 200 idle tunnels, want none", runtime.NumGoroutine()-before)
	}
	msg := frame(wsframe.OpText, true, []byte("still there"))
	for _, s := range all[:20] {
		_, _ = s.client.Write(msg)
		if got := readN(t, s.backend, len(msg)); !bytes.Equal(got, msg) {
			t.Fatalf("got %q", got)
		}
	}
	for _, s := range all[:20] {
		s.waitParked(t) // after lingering
	}
	for _, s := range all {
		s.tun.Kill()
	}
	for _, s := range all {
		s.waitDone(t, 2*time.Second)
	}
	if !eventually(func() bool { return runtime.NumGoroutine() <= before }) {
		t.Fatalf("%d goroutines left after the tunnels ended", runtime.NumGoroutine()-before)
	}
}

// TestDataAfterIdle sends data both ways after a long idle period, with a frame split across
// parks, and the tunnel parks again after each.
func TestDataAfterIdle(t *testing.T) { eachMode(t, testDataAfterIdle) }

func testDataAfterIdle(t *testing.T) {
	s := startParked(t, Options{CloseGrace: grace, SendTimeout: time.Second})
	time.Sleep(1500 * time.Millisecond)
	// Frames for more than the pool's buffers.
	up := bytes.Repeat(frame(wsframe.OpBinary, true, make([]byte, 100)), 50)
	down := bytes.Repeat(frame(wsframe.OpBinary, false, make([]byte, 100)), 50)
	go func() { _, _ = s.client.Write(up) }()
	if got := readN(t, s.backend, len(up)); !bytes.Equal(got, up) {
		t.Fatal("client to backend corrupted")
	}
	s.waitParked(t)
	time.Sleep(500 * time.Millisecond)
	go func() { _, _ = s.backend.Write(down) }()
	if got := readN(t, s.client, len(down)); !bytes.Equal(got, down) {
		t.Fatal("backend to client corrupted")
	}
	s.waitParked(t)

	// While the direction lingers, exactly a pool buffer, so the next read blocks, for longer
	// than the linger.
	next := frame(wsframe.OpBinary, false, make([]byte, 100))
	_, _ = s.backend.Write(next)
	readN(t, s.client, len(next))
	exact := append(bytes.Repeat(next, 10), frame(wsframe.OpBinary, false, []byte("ab"))...)
	_, _ = s.backend.Write(exact)
	readN(t, s.client, len(exact))
	time.Sleep(linger + 200*time.Millisecond)
	_, _ = s.backend.Write(next)
	readN(t, s.client, len(next))
	s.waitParked(t)

	// A frame split across parks: a close waits for its end, which the tracker knows.
	split := frame(wsframe.OpText, false, []byte("split across parks"))
	_, _ = s.backend.Write(split[:7])
	readN(t, s.client, 7)
	s.waitParked(t)
	s.tun.Close(wsframe.CloseServiceRestart, "restart")
	time.Sleep(50 * time.Millisecond)
	_, _ = s.backend.Write(split[7:])
	readN(t, s.client, len(split)-7)
	closeFrame := wsframe.CloseFrame(wsframe.CloseServiceRestart, "restart")
	if got := readN(t, s.client, len(closeFrame)); !bytes.Equal(got, closeFrame) {
		t.Fatalf("got %q, want the close frame", got)
	}
}

// TestCloseWhileParked closes a parked WebSocket: the client gets the Close frame at once,
// and its answer reaches the backend; or, if it never answers, the tunnel ends within two
// graces. done is called either way.
func TestCloseWhileParked(t *testing.T) { eachMode(t, testCloseWhileParked) }

func testCloseWhileParked(t *testing.T) {
	closeFrame := wsframe.CloseFrame(wsframe.CloseGoingAway, "bye")
	for _, answers := range []bool{true, false} {
		s := startParked(t, Options{CloseGrace: grace})
		start := time.Now()
		s.tun.Close(wsframe.CloseGoingAway, "bye")
		if got := readN(t, s.client, len(closeFrame)); !bytes.Equal(got, closeFrame) {
			t.Fatalf("got %q", got)
		}
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Fatalf("parked close took %v", d)
		}
		if answers {
			answer := frame(wsframe.OpClose, true, binary.BigEndian.AppendUint16(nil, 1001))
			_, _ = s.client.Write(answer)
			if got := readN(t, s.backend, len(answer)); !bytes.Equal(got, answer) {
				t.Fatal("the client's close did not reach the backend")
			}
			s.waitDone(t, grace/2)
		} else {
			s.waitDone(t, 2*grace+100*time.Millisecond)
		}
		expectEOF(t, s.client)
		expectEOF(t, s.backend)
	}
}

// TestKillWhileParked kills a parked tunnel: both connections close, and done is called on a
// goroutine of the tunnel, not inside Kill (whose caller may hold a lock that done takes).
func TestKillWhileParked(t *testing.T) { eachMode(t, testKillWhileParked) }

func testKillWhileParked(t *testing.T) {
	s := startParked(t, Options{CloseGrace: grace})
	s.hold.Lock()
	s.tun.Kill()
	s.hold.Unlock()
	expectEOF(t, s.client)
	expectEOF(t, s.backend)
	s.waitDone(t, time.Second)
	s.tun.Close(wsframe.CloseGoingAway, "late") // harmless after the end
}

// TestPeerCloseWhileParked ends a parked tunnel when either peer closes its connection.
func TestPeerCloseWhileParked(t *testing.T) { eachMode(t, testPeerCloseWhileParked) }

func testPeerCloseWhileParked(t *testing.T) {
	for _, clientCloses := range []bool{true, false} {
		s := startParked(t, Options{CloseGrace: grace})
		closer, other := s.backend, s.client
		if clientCloses {
			closer, other = s.client, s.backend
		}
		_ = closer.Close()
		expectEOF(t, other)
		s.waitDone(t, time.Second)
	}
}

// TestFloodDoesNotStarve floods one tunnel from its backend, with a client reading as fast as
// it can, while another tunnel carries messages: each arrives within a fraction of a second.
func TestFloodDoesNotStarve(t *testing.T) { eachMode(t, testFloodDoesNotStarve) }

func testFloodDoesNotStarve(t *testing.T) {
	flooded := startParked(t, Options{CloseGrace: grace})
	quiet := startParked(t, Options{CloseGrace: grace})
	stop := make(chan struct{})
	defer close(stop)
	data := bytes.Repeat(frame(wsframe.OpBinary, false, make([]byte, 100)), 1000)
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := flooded.backend.Write(data); err != nil {
				return
			}
		}
	}()
	go func() { _, _ = io.Copy(io.Discard, flooded.client) }()
	time.Sleep(100 * time.Millisecond) // the flood is under way
	msg := frame(wsframe.OpText, true, []byte("through"))
	for range 20 {
		start := time.Now()
		_, _ = quiet.client.Write(msg)
		readN(t, quiet.backend, len(msg))
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Fatalf("a message took %v beside the flood", d)
		}
	}
}

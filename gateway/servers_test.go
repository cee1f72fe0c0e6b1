package gateway_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestWhichServer checks which server reads what: the gateway's own HTTP/1.1 path keeps
// connections that carry simple requests and WebSocket handshakes, and hands to net/http's
// server, for good, a connection whose request it does not take; either way the member gets
// the request and the client its answer.
func TestWhichServer(t *testing.T) {
	rec := newRecorder(t, nil)
	h := gatewayFor(t, rec.backend, testOptions(t))
	handoffs := func(want int) {
		t.Helper()
		_, metrics := get(t, h.admin+"/metrics")
		if line := "stablering_gateway_handoffs_total " + strconv.Itoa(want); !strings.Contains(metrics, line+"\n") {
			t.Fatalf("want %q:\n%s", line, grepLines(metrics, "handoffs_total"))
		}
	}
	answered := func(c *rawClient, method, uri string) {
		t.Helper()
		resp, body := c.response(t, method)
		if resp.StatusCode != http.StatusOK || method != http.MethodHead && body != uri {
			t.Fatalf("%s %s: %s %q", method, uri, resp.Status, body)
		}
	}

	own := dialRaw(t, h)
	own.send(t, "GET /a?room=a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b?room=a HTTP/1.1\r\nHost: x\r\n\r\n"+
		"OPTIONS /c?room=a HTTP/1.1\r\nHost: x\r\nX-Long: "+strings.Repeat("v", 3000)+"\r\n\r\n")
	answered(own, http.MethodGet, "/a?room=a")
	answered(own, http.MethodHead, "/b?room=a")
	answered(own, http.MethodOptions, "/c?room=a")
	// A WebSocket handshake, which this member refuses (its answer is relayed as it is).
	own.send(t, "GET /ws?room=a HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	answered(own, http.MethodGet, "/ws?room=a")
	handoffs(0)

	for i, req := range []string{
		"POST /d?room=a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok",
		"GET /e?room=a HTTP/1.0\r\nHost: x\r\n\r\n",
		"GET /f?room=a HTTP/1.1\r\nHost: x\r\nX-Long: " + strings.Repeat("v", 5000) + "\r\n\r\n",
	} {
		c := dialRaw(t, h)
		c.send(t, req)
		method, rest, _ := strings.Cut(req, " ")
		uri, _, _ := strings.Cut(rest, " ")
		answered(c, method, uri)
		handoffs(i + 1)
		if i == 0 { // the rest of this connection's life is net/http's
			c.send(t, "GET /g?room=a HTTP/1.1\r\nHost: x\r\n\r\n")
			answered(c, http.MethodGet, "/g?room=a")
			handoffs(1)
		}
	}
}

// TestEmptyAnswers: answers without a body byte (an empty length, an empty chunked body, 204,
// 304, a HEAD's) end where their framing says, at once, and the connections stay usable.
func TestEmptyAnswers(t *testing.T) {
	for _, answer := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"HTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
	} {
		rb := newRawBackend(t, func(c net.Conn, br *bufio.Reader) { answerEach(c, br, answer) })
		h := gatewayFor(t, &rb.backend, testOptions(t))
		c := dialRaw(t, h)
		for range 3 {
			c.send(t, "GET /?room=a HTTP/1.1\r\nHost: x\r\n\r\n")
			start := time.Now()
			if _, body := c.response(t, http.MethodGet); body != "" || time.Since(start) > time.Second {
				t.Fatalf("%q: body %q after %v", answer, body, time.Since(start))
			}
		}
		if n := rb.accepted.Load(); n != 1 {
			t.Errorf("%q: the member accepted %d connections for 3 requests, want 1", answer, n)
		}
	}
}

// TestAcceptOutOfDescriptors: while the gateway cannot accept for lack of descriptors, a new
// client waits in the listen backlog; the gateway keeps trying, and serves it once it can.
func TestAcceptOutOfDescriptors(t *testing.T) {
	rec := newRecorder(t, nil)
	h := gatewayFor(t, rec.backend, testOptions(t))
	addr, err := net.ResolveTCPAddr("tcp", h.host)
	if err != nil {
		t.Fatal(err)
	}
	// The client's socket is made before the descriptors run out; connecting needs none.
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "client")
	defer func() { _ = f.Close() }()
	restore := exhaustDescriptors(t)
	sa := &syscall.SockaddrInet4{Port: addr.Port}
	copy(sa.Addr[:], addr.IP.To4())
	if err := syscall.Connect(fd, sa); err != nil {
		restore()
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the gateway's accepts fail meanwhile
	restore()
	c, err := net.FileConn(f)
	if err != nil {
		t.Fatal(err)
	}
	rc := &rawClient{Conn: c, br: bufio.NewReader(c)}
	t.Cleanup(func() { _ = c.Close() })
	rc.send(t, "GET /late?room=a HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, body := rc.response(t, http.MethodGet); resp.StatusCode != http.StatusOK || body != "/late?room=a" {
		t.Fatalf("after the descriptors came back: %s %q", resp.Status, body)
	}
}

// TestUpgradeWhateverTheHeadsTiming: a WebSocket handshake is served, and its tunnel carries
// messages both ways, whether its head is there at the gateway's first read or arrives later,
// in pieces, so that the client socket waits in Go's poller first. Which socket the tunnel
// takes in each case (the accepted one, or a duplicate) is TestRawTunnelTakesAcceptedSocket's.
func TestUpgradeWhateverTheHeadsTiming(t *testing.T) {
	b := newBackend(t, 0)
	h := gatewayFor(t, b, testOptions(t))
	const head = "GET /ws?room=a HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	for _, late := range []bool{false, true} {
		c := dialRaw(t, h)
		if late {
			time.Sleep(50 * time.Millisecond) // the gateway's first read finds nothing
			c.send(t, head[:20])
			time.Sleep(50 * time.Millisecond)
			c.send(t, head[20:])
		} else {
			c.send(t, head)
		}
		if resp, _ := c.response(t, http.MethodGet); resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("late %v: %s", late, resp.Status)
		}
		if got := c.textFrame(t); got != "member 0" {
			t.Fatalf("late %v: the member's greeting is %q", late, got)
		}
		// A masked text frame with a zero mask, which leaves the payload as it is.
		c.send(t, "\x81\x85\x00\x00\x00\x00hello")
		if got := c.textFrame(t); got != "hello" {
			t.Fatalf("late %v: echoed %q", late, got)
		}
	}
}

// textFrame reads one unmasked text frame of at most 125 bytes from the member, through the
// gateway.
func (c *rawClient) textFrame(t testing.TB) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hdr [2]byte
	if _, err := io.ReadFull(c.br, hdr[:]); err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	if hdr[0] != 0x81 || hdr[1] > 125 {
		t.Fatalf("frame header %x, want an unmasked text frame of at most 125 bytes", hdr)
	}
	payload := make([]byte, hdr[1])
	if _, err := io.ReadFull(c.br, payload); err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	return string(payload)
}

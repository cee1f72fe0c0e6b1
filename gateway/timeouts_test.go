package gateway_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stablering/stablering/gateway"
)

// Tests that every phase of a request after its head is bounded: the client's body, writing
// to the client, the member's first byte and each later read of its answer.

// shortTimeouts are test options with every bound after the request head at 300 ms.
func shortTimeouts(t testing.TB) gateway.Options {
	o := testOptions(t)
	o.ClientBodyTimeout = 300 * time.Millisecond
	o.SendTimeout = 300 * time.Millisecond
	o.MemberReadTimeout = 300 * time.Millisecond
	return o
}

// TestClientBodyTimeout: a body that stops arriving gets 408, before or after its first
// chunk, and for an upgrade request too.
func TestClientBodyTimeout(t *testing.T) {
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(w, r.Body) })
	h := gatewayFor(t, rec.backend, shortTimeouts(t))
	for name, req := range map[string]string{
		"length":            "POST /?room=a HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789",
		"chunked":           "POST /?room=a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
		"chunked, no chunk": "POST /?room=a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
		"upgrade": "GET /ws?room=a HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
			"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nContent-Length: 10\r\n\r\n",
	} {
		c := dialRaw(t, h)
		start := time.Now()
		c.send(t, req)
		resp, body := c.response(t, http.MethodPost)
		if resp.StatusCode != http.StatusRequestTimeout || !strings.HasPrefix(body, "stablering: ") {
			t.Errorf("%s: %s %q, want 408", name, resp.Status, body)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("%s: answered after %v", name, took)
		}
		if rest, ended := c.ended(2 * time.Second); !ended {
			t.Errorf("%s: the connection stayed open after 408 (read %q)", name, rest)
		}
	}
}

// TestSendTimeout: a client that never reads a large answer is cut off, and so is the member
// connection that was sending it.
func TestSendTimeout(t *testing.T) {
	ended := make(chan time.Time, 1)
	rec := newRecorder(t, func(w http.ResponseWriter, _ *http.Request) {
		chunk := make([]byte, 32<<10)
		for range 64 << 20 / len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				break
			}
		}
		ended <- time.Now()
	})
	h := gatewayFor(t, rec.backend, shortTimeouts(t))
	c := dialRaw(t, h)
	_ = c.Conn.(*net.TCPConn).SetReadBuffer(4 << 10)
	c.send(t, "GET /big?room=a HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the member was still sending 10 s after the client stopped reading")
	}
}

// TestMemberReadTimeout: a member that never answers gets 504; one that stops in the middle of
// its answer has the answer cut off. Both for requests the gateway forwards itself and for
// requests with a body.
func TestMemberReadTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if strings.HasPrefix(r.URL.Path, "/half") {
			w.Header().Set("Content-Length", "100")
			_, _ = io.WriteString(w, "the first part")
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	h := gatewayFor(t, rec.backend, shortTimeouts(t))
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		body := ""
		if method == http.MethodPost {
			body = "Content-Length: 4\r\n\r\nbody"
		} else {
			body = "\r\n"
		}
		c := dialRaw(t, h)
		start := time.Now()
		c.send(t, method+" /silent?room=a HTTP/1.1\r\nHost: x\r\n"+body)
		resp, _ := c.response(t, method)
		if resp.StatusCode != http.StatusGatewayTimeout || time.Since(start) > 2*time.Second {
			t.Errorf("%s to a silent member: %s after %v, want 504", method, resp.Status, time.Since(start))
		}

		c = dialRaw(t, h)
		start = time.Now()
		c.send(t, method+" /half?room=a HTTP/1.1\r\nHost: x\r\n"+body)
		// The answer cannot be complete: the member sent 14 of its 100 bytes. Whether the
		// client saw the head and the first part depends on buffering; the end may not wait.
		got, ended := c.ended(3 * time.Second)
		if !ended || got != "" && !strings.HasSuffix(got, "the first part") || time.Since(start) > 2*time.Second {
			t.Errorf("%s to a member that stalls: read %q, ended %v after %v", method, got, ended, time.Since(start))
		}
	}
}

package gateway_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stablering/stablering/gateway"
)

// TestIdleConnectionsHoldNoGoroutine: a keep-alive connection that waits for its next request
// waits on an HTTP event loop, not on a goroutine of its own (Linux, unless -http-loops=0).
func TestIdleConnectionsHoldNoGoroutine(t *testing.T) {
	if gateway.HTTPLoops() == 0 {
		t.Skip("no HTTP event loop runs (Linux only; -http-loops=0 turns them off)")
	}
	rec := newRecorder(t, nil)
	h := gatewayFor(t, rec.backend, testOptions(t))
	warm := dialRaw(t, h)
	warm.send(t, "GET /warm?room=a HTTP/1.1\r\nHost: x\r\n\r\n")
	warm.response(t, http.MethodGet)
	before := runtime.NumGoroutine()
	const n = 100
	for i := range n {
		c := dialRaw(t, h)
		c.send(t, fmt.Sprintf("GET /%d?room=a HTTP/1.1\r\nHost: x\r\n\r\n", i))
		if resp, body := c.response(t, http.MethodGet); resp.StatusCode != http.StatusOK || body != fmt.Sprintf("/%d?room=a", i) {
			t.Fatalf("request %d: %s %q", i, resp.Status, body)
		}
	}
	// The connections stay open (closed by the test's cleanup): each waits for a request.
	eventually(t, 5*time.Second, "the idle connections to hold no goroutine", func() bool {
		return runtime.NumGoroutine()-before < n/4
	})
}

// TestLongPipeline: hundreds of requests pipelined in one write are all answered, in order,
// on one member connection, past the requests a loop serves of one connection in a row.
func TestLongPipeline(t *testing.T) {
	cb := newCountingBackend(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.RequestURI) })
	h := gatewayFor(t, cb.backend, testOptions(t))
	c := dialRaw(t, h)
	const n = 300
	var reqs strings.Builder
	for i := range n {
		fmt.Fprintf(&reqs, "GET /%d?room=a HTTP/1.1\r\nHost: x\r\n\r\n", i)
	}
	go func() { _, _ = io.WriteString(c, reqs.String()) }() // the answers are read meanwhile
	for i := range n {
		if resp, body := c.response(t, http.MethodGet); resp.StatusCode != http.StatusOK || body != fmt.Sprintf("/%d?room=a", i) {
			t.Fatalf("answer %d: %s %q", i, resp.Status, body)
		}
	}
	if got := cb.opened.Load(); got != 1 {
		t.Errorf("the member accepted %d connections for %d pipelined requests, want 1", got, n)
	}
}

// TestLargeAnswerToASlowReader: an answer many times larger than the socket buffers reaches a
// client that reads slowly whole and intact, and the connection carries the next request.
func TestLargeAnswerToASlowReader(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	rec := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/small" {
			_, _ = io.WriteString(w, "small")
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
	h := gatewayFor(t, rec.backend, testOptions(t))
	c := dialRaw(t, h)
	c.send(t, "GET /warm?room=a HTTP/1.1\r\nHost: x\r\n\r\n")
	c.response(t, http.MethodGet)
	c.send(t, "GET /large?room=a HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(300 * time.Millisecond) // the gateway fills the socket buffers and waits
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(c.br, &http.Request{Method: http.MethodGet})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	got := sha256.New()
	if n, err := io.Copy(got, resp.Body); err != nil || n != int64(len(body)) {
		t.Fatalf("read %d bytes of %d: %v", n, len(body), err)
	}
	if want := sha256.Sum256(body); !bytes.Equal(got.Sum(nil), want[:]) {
		t.Fatal("the body arrived changed")
	}
	c.send(t, "GET /small?room=a HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, small := c.response(t, http.MethodGet); resp.StatusCode != http.StatusOK || small != "small" {
		t.Fatalf("the next request: %s %q", resp.Status, small)
	}
}

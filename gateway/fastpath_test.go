package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stablering/stablering/gateway"
	"github.com/stablering/stablering/gateway/resolved"
)

// Tests of the plain-HTTP fast path: pooled member connections, their reuse and retirement,
// and the requests it hands to http.Transport.

// countingBackend is a member that counts the connections it accepted and saw closed.
type countingBackend struct {
	*backend
	opened, closed atomic.Int64
}

// newCountingBackend starts a member serving handler (nil: the echo backend).
func newCountingBackend(t testing.TB, handler http.HandlerFunc) *countingBackend {
	cb := &countingBackend{backend: &backend{}}
	if handler == nil {
		handler = cb.serve
	}
	cb.srv = httptest.NewUnstartedServer(handler)
	cb.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			cb.opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			cb.closed.Add(1)
		}
	}
	cb.srv.Start()
	cb.addr = cb.srv.Listener.Addr().String()
	t.Cleanup(cb.srv.Close)
	return cb
}

// rawBackend is a member written by hand: serve gets every accepted connection.
type rawBackend struct {
	backend
	accepted atomic.Int64
	mu       sync.Mutex
	conns    []net.Conn
}

func newRawBackend(t testing.TB, serve func(c net.Conn, br *bufio.Reader)) *rawBackend {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rb := &rawBackend{backend: backend{addr: ln.Addr().String()}}
	var wg sync.WaitGroup
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			rb.accepted.Add(1)
			rb.mu.Lock()
			rb.conns = append(rb.conns, c)
			rb.mu.Unlock()
			wg.Go(func() {
				defer func() { _ = c.Close() }()
				serve(c, bufio.NewReader(c))
			})
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		rb.mu.Lock()
		for _, c := range rb.conns {
			_ = c.Close()
		}
		rb.mu.Unlock()
		wg.Wait()
	})
	return rb
}

// answerEach reads requests from br and writes answer to each, until the connection ends.
func answerEach(c net.Conn, br *bufio.Reader, answer string) {
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		_ = req.Body.Close()
		if _, err := io.WriteString(c, answer); err != nil {
			return
		}
	}
}

// gatewayFor starts a gateway with opts whose ring "fast" has the single member b.
func gatewayFor(t testing.TB, b *backend, opts gateway.Options) *harness {
	h := startGateway(t, opts)
	h.g.Update([]resolved.Ring{newRing("fast", []*backend{b})})
	return h
}

// timely is a client that gives up on answers that take more than 5 seconds.
var timely = &http.Client{Timeout: 5 * time.Second}

// mustGet sends a GET through the gateway and fails the test unless it gets want.
func mustGet(t testing.TB, url string, want int) string {
	t.Helper()
	resp, err := timely.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body := readAll(t, resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %s, want %d: %q", url, resp.Status, want, body)
	}
	return body
}

// waitGone waits for the member's handler to see its connection closed, for at most 5 seconds.
func waitGone(r *http.Request) bool {
	select {
	case <-r.Context().Done():
		return true
	case <-time.After(5 * time.Second):
		return false
	}
}

// within reports whether ch delivers within 2 seconds.
func within(ch <-chan bool) bool {
	select {
	case ok := <-ch:
		return ok
	case <-time.After(2 * time.Second):
		return false
	}
}

// TestFastPathReusesConnections sends sequential requests of every kind the fast path
// handles, answered with a length, chunked and without a body: they share one connection.
func TestFastPathReusesConnections(t *testing.T) {
	cb := newCountingBackend(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "chunked")
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		default:
			_, _ = io.WriteString(w, "length")
		}
	})
	h := gatewayFor(t, cb.backend, testOptions(t))
	for range 5 {
		if body := mustGet(t, h.url+"/length?room=a", 200); body != "length" {
			t.Fatalf("length: %q", body)
		}
		if body := mustGet(t, h.url+"/chunked?room=a", 200); body != "chunked" {
			t.Fatalf("chunked: %q", body)
		}
		mustGet(t, h.url+"/empty?room=a", 204)
		head, err := timely.Head(h.url + "/length?room=a")
		if err != nil {
			t.Fatal(err)
		}
		if _ = head.Body.Close(); head.StatusCode != 200 {
			t.Fatalf("HEAD: %s", head.Status)
		}
	}
	if n := cb.opened.Load(); n != 1 {
		t.Errorf("the member accepted %d connections for 20 sequential requests, want 1", n)
	}
}

// okAnswer is a complete keep-alive answer written by hand.
const okAnswer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

// TestFastPathRetriesStaleConnection has the member close every connection after one answer,
// as a member whose keep-alive timeout passed does: each next request finds its pooled
// connection closed and is sent again on a new one. A new connection that fails is not
// retried: the request gets 502.
func TestFastPathRetriesStaleConnection(t *testing.T) {
	rb := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err == nil {
			_, _ = io.WriteString(c, okAnswer)
		}
	})
	h := gatewayFor(t, &rb.backend, testOptions(t))
	for range 3 {
		if body := mustGet(t, h.url+"/?room=a", 200); body != "ok" {
			t.Fatalf("body %q", body)
		}
		time.Sleep(50 * time.Millisecond) // the member's close reaches the gateway
	}
	if n := rb.accepted.Load(); n != 3 {
		t.Errorf("the member accepted %d connections, want 3", n)
	}

	silent := newRawBackend(t, func(_ net.Conn, br *bufio.Reader) { _, _ = http.ReadRequest(br) })
	h = gatewayFor(t, &silent.backend, testOptions(t))
	mustGet(t, h.url+"/?room=a", http.StatusBadGateway)
	if n := silent.accepted.Load(); n != 1 {
		t.Errorf("a request that failed on a new connection was sent %d times", n)
	}
}

// TestFastPathConnectionClose checks that answers that end their connection are not
// followed by another request on it, and that an HTTP/1.0 keep-alive answer is.
func TestFastPathConnectionClose(t *testing.T) {
	for _, tc := range []struct {
		answer string
		conns  int64
	}{
		{"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", 3},
		{"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 3},
		{"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", 1},
	} {
		rb := newRawBackend(t, func(c net.Conn, br *bufio.Reader) { answerEach(c, br, tc.answer) })
		h := gatewayFor(t, &rb.backend, testOptions(t))
		for range 3 {
			if body := mustGet(t, h.url+"/?room=a", 200); body != "ok" {
				t.Fatalf("body %q", body)
			}
		}
		if n := rb.accepted.Load(); n != tc.conns {
			t.Errorf("%q: %d connections for 3 requests, want %d", tc.answer, n, tc.conns)
		}
	}
}

// TestFastPathEarlyClose has the client leave in the middle of a streamed answer: the
// gateway closes the member's connection instead of pooling it.
func TestFastPathEarlyClose(t *testing.T) {
	ended := make(chan bool, 1)
	cb := newCountingBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/stream" {
			_, _ = io.WriteString(w, "ok")
			return
		}
		_, _ = io.WriteString(w, "first part\n")
		w.(http.Flusher).Flush()
		ended <- waitGone(r)
	})
	h := gatewayFor(t, cb.backend, testOptions(t))
	resp, err := timely.Get(h.url + "/stream?room=a")
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "first part\n" {
		t.Fatalf("first part: %q %v", line, err)
	}
	_ = resp.Body.Close()
	if !within(ended) {
		t.Fatal("the member's connection stayed open after the client left")
	}
	mustGet(t, h.url+"/x?room=a", 200)
	if n := cb.opened.Load(); n != 2 {
		t.Errorf("the member accepted %d connections, want 2 (the first one closed)", n)
	}
}

// TestFastPathClientCancel cancels a request while the member thinks: the gateway closes the
// member's connection and records 499.
func TestFastPathClientCancel(t *testing.T) {
	ended := make(chan bool, 1)
	cb := newCountingBackend(t, func(_ http.ResponseWriter, r *http.Request) { ended <- waitGone(r) })
	h := gatewayFor(t, cb.backend, testOptions(t))
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url+"/?room=a", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := http.DefaultClient.Do(req); err == nil {
		t.Fatalf("answered %s", replyOf(resp).Status)
	}
	if !within(ended) {
		t.Fatal("the member's connection stayed open after the client left")
	}
	eventually(t, 2*time.Second, "499 counted", func() bool {
		_, metrics := get(t, h.admin+"/metrics")
		return strings.Contains(metrics, `stablering_gateway_requests_total{code="499",member="0",ring="default/fast"} 1`)
	})
}

// TestFastPathMemberGone stops a member with a pooled connection: the request fails on the
// stale connection, its retry cannot connect, and the member is marked unreachable as when a
// first connection fails.
func TestFastPathMemberGone(t *testing.T) {
	cb := newCountingBackend(t, nil)
	h := gatewayFor(t, cb.backend, testOptions(t))
	mustGet(t, h.url+"/?room=a", 200)
	cb.srv.Close()
	if body := mustGet(t, h.url+"/?room=a", 503); !strings.Contains(body, "member 0 is unreachable (connection failed)") {
		t.Fatalf("body %q", body)
	}
}

// TestFastPathDelegates sends what the fast path does not handle, a chunked POST and a POST
// expecting 100-continue, between GETs: they reach the member over the connections of
// http.Transport, apart from the fast path's.
func TestFastPathDelegates(t *testing.T) {
	cb := newCountingBackend(t, func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, r.Method+" "+string(data))
	})
	h := gatewayFor(t, cb.backend, testOptions(t))
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Second}, Timeout: 5 * time.Second}
	post := func(body io.Reader, expect bool) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, h.url+"/?room=a", body)
		if err != nil {
			t.Fatal(err)
		}
		if expect {
			req.Header.Set("Expect", "100-continue")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		if got := readAll(t, resp.Body); got != "POST payload" {
			t.Fatalf("expect=%v: %s %q", expect, resp.Status, got)
		}
	}
	mustGet(t, h.url+"/?room=a", 200)
	post(io.MultiReader(strings.NewReader("payload")), false) // no length: chunked
	post(strings.NewReader("payload"), true)
	mustGet(t, h.url+"/?room=a", 200)
	if n := cb.opened.Load(); n != 2 {
		t.Errorf("the member accepted %d connections, want 2 (one of each transport)", n)
	}
}

// TestFastPathInformational checks the 1xx answers a member sends before its answer: 100
// Continue is dropped, 103 Early Hints reach the client, 101 to a plain request is a 502.
func TestFastPathInformational(t *testing.T) {
	hints := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		answerEach(c, br, "HTTP/1.1 100 Continue\r\n\r\n"+
			"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"+okAnswer)
	})
	h := gatewayFor(t, &hints.backend, testOptions(t))
	var got []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, header textproto.MIMEHeader) error {
		got = append(got, fmt.Sprint(code, " ", header.Get("Link")))
		return nil
	}}
	ctx := httptrace.WithClientTrace(context.Background(), trace)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url+"/?room=a", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := timely.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if body := readAll(t, resp.Body); resp.StatusCode != 200 || body != "ok" ||
		strings.Join(got, ",") != "103 </style.css>; rel=preload" {
		t.Errorf("%s %q after informational answers %q", resp.Status, body, got)
	}

	switching := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		answerEach(c, br, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n")
	})
	h = gatewayFor(t, &switching.backend, testOptions(t))
	mustGet(t, h.url+"/?room=a", http.StatusBadGateway)
}

// TestFastPathHeaderLimit checks that a member's answer with a header over 1 MiB is a 502.
func TestFastPathHeaderLimit(t *testing.T) {
	rb := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		answerEach(c, br, "HTTP/1.1 200 OK\r\nX-Big: "+strings.Repeat("x", 2<<20)+"\r\nContent-Length: 2\r\n\r\nok")
	})
	h := gatewayFor(t, &rb.backend, testOptions(t))
	mustGet(t, h.url+"/?room=a", http.StatusBadGateway)
}

// TestFastPathIdleConnections checks the pool's bounds: at most MaxIdleConnsPerMember idle
// connections stay after a burst, and they are closed after UpstreamIdleTimeout. Each HTTP
// event loop pools its own, and a gateway's connections are lent to its loops in turn, so a
// burst of four connections per loop leaves each loop two over its bound.
func TestFastPathIdleConnections(t *testing.T) {
	pools := max(gateway.HTTPLoops(), 1)
	burst, over := 4*pools, 2*pools
	var arrived sync.WaitGroup
	arrived.Add(burst)
	cb := newCountingBackend(t, func(w http.ResponseWriter, _ *http.Request) {
		arrived.Done()
		arrived.Wait() // all requests in flight at once: one connection each
		_, _ = io.WriteString(w, "ok")
	})
	opts := testOptions(t)
	opts.MaxIdleConnsPerMember = 2
	opts.UpstreamIdleTimeout = 500 * time.Millisecond
	h := gatewayFor(t, cb.backend, opts)
	var done sync.WaitGroup
	for range burst {
		done.Go(func() { mustGet(t, h.url+"/?room=a", 200) })
	}
	done.Wait()
	eventually(t, time.Second, "connections over the idle limit closed", func() bool { return cb.closed.Load() == int64(over) })
	if n := cb.opened.Load(); n != int64(burst) {
		t.Fatalf("%d connections for %d concurrent requests", n, burst)
	}
	time.Sleep(200 * time.Millisecond)
	if n := cb.closed.Load(); n != int64(over) {
		t.Fatalf("%d connections closed before the idle timeout, want %d", n, over)
	}
	eventually(t, 2*time.Second, "idle connections closed", func() bool { return cb.closed.Load() == int64(burst) })
}

// TestFastPathClosesConnectionsOfGoneMembers checks that the idle connections of an address
// that leaves the table are closed, and all of them when the gateway shuts down.
func TestFastPathClosesConnectionsOfGoneMembers(t *testing.T) {
	first, second := newCountingBackend(t, nil), newCountingBackend(t, nil)
	h := gatewayFor(t, first.backend, testOptions(t))
	mustGet(t, h.url+"/?room=a", 200)
	second.ordinal = 0
	h.g.Update([]resolved.Ring{newRing("fast", []*backend{second.backend}, bumpVersion)})
	eventually(t, time.Second, "the gone address's connection closed", func() bool { return first.closed.Load() == 1 })
	mustGet(t, h.url+"/?room=a", 200)
	h.stop()
	eventually(t, time.Second, "connections closed at shutdown", func() bool { return second.closed.Load() == 1 })
}

// TestFastPathPipelinedAfterTheFirstRead has the client send its second request while the
// gateway waits for the member's answer to the first, after the gateway read the first alone:
// both are answered, in order, long before the idle timeout.
func TestFastPathPipelinedAfterTheFirstRead(t *testing.T) {
	received := make(chan struct{}, 64)
	rb := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			received <- struct{}{}
			time.Sleep(50 * time.Millisecond) // the second request reaches the gateway meanwhile
			if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(req.URL.Path), req.URL.Path); err != nil {
				return
			}
		}
	})
	opts := testOptions(t)
	opts.IdleTimeout = 10 * time.Second
	h := gatewayFor(t, &rb.backend, opts)
	for range 3 {
		c := dialRaw(t, h)
		c.send(t, "GET /first?room=a HTTP/1.1\r\nHost: x\r\n\r\n")
		<-received
		c.send(t, "GET /second?room=a HTTP/1.1\r\nHost: x\r\n\r\n")
		for _, want := range []string{"/first", "/second"} {
			if resp, body := c.response(t, http.MethodGet); resp.StatusCode != 200 || body != want {
				t.Fatalf("answer %s %q, want 200 %q", resp.Status, body, want)
			}
		}
		_ = c.Close()
	}
}

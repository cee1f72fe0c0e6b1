package upstream

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestBodyClosedBeforeEnd closes an answer's body before its end, as ReverseProxy does when it
// cannot pass the answer on: the member's connection is closed rather than pooled, and the next
// request gets a new one.
func TestBodyClosedBeforeEnd(t *testing.T) {
	var opened atomic.Int64
	ended := make(chan bool, 1)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first part\n")
		if r.URL.Path != "/stream" {
			return
		}
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
			ended <- true
		case <-time.After(5 * time.Second):
			ended <- false
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	opts := Options{MaxIdle: 4, IdleTimeout: time.Minute, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
	dial := (&Dialer{}).Dial
	ft := New(srv.Listener.Addr().String(), dial, NewFallback(dial, opts), opts)
	defer ft.Close()

	resp := roundTrip(t, ft, srv.URL+"/stream")
	if line, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil || line != "first part\n" {
		t.Fatalf("first part: %q %v", line, err)
	}
	_ = resp.Body.Close()
	if !<-ended {
		t.Fatal("the member's connection stayed open")
	}
	resp = roundTrip(t, ft, srv.URL+"/x")
	if body, err := io.ReadAll(resp.Body); err != nil || string(body) != "first part\n" {
		t.Fatalf("next request: %q %v", body, err)
	}
	_ = resp.Body.Close()
	if n := opened.Load(); n != 2 {
		t.Errorf("the member accepted %d connections, want 2", n)
	}
}

func roundTrip(t *testing.T, rt http.RoundTripper, url string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestReuseAfterReadTimeout: a pooled connection idle for longer than the read timeout (but
// not the idle timeout) is still reused: the last exchange's read deadline does not condemn it.
func TestReuseAfterReadTimeout(t *testing.T) {
	var opened atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	opts := Options{MaxIdle: 4, IdleTimeout: time.Minute, ReadTimeout: 100 * time.Millisecond, WriteTimeout: time.Second}
	dial := (&Dialer{}).Dial
	u := New(srv.Listener.Addr().String(), dial, NewFallback(dial, opts), opts)
	defer u.Close()
	for i := range 2 {
		resp := roundTrip(t, u, srv.URL+"/")
		if body, err := io.ReadAll(resp.Body); err != nil || string(body) != "ok" {
			t.Fatalf("request %d: %q %v", i, body, err)
		}
		_ = resp.Body.Close()
		time.Sleep(300 * time.Millisecond)
	}
	if n := opened.Load(); n != 1 {
		t.Fatalf("the member accepted %d connections, want 1", n)
	}
}

package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/coder/websocket"

	"github.com/stablering/stablering/test/bench"
)

// TestMain lets the test binary stand in for wsbench: run with a mode as its first argument
// (as idle starts its holders), it is wsbench.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && !strings.HasPrefix(os.Args[1], "-") {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// echoCounter is a WebSocket echo server that counts the connections open at its peak.
type echoCounter struct {
	open, peak atomic.Int64
}

func (e *echoCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer func() { _ = c.CloseNow() }()
	n := e.open.Add(1)
	defer e.open.Add(-1)
	for p := e.peak.Load(); n > p && !e.peak.CompareAndSwap(p, n); p = e.peak.Load() {
	}
	for {
		typ, msg, err := c.Read(context.Background())
		if err != nil {
			return
		}
		if err := c.Write(context.Background(), typ, msg); err != nil {
			return
		}
	}
}

// TestIdleSpreadsOverHolders runs idle with more connections than one holder takes: every
// connection must be open at once, echo, and be counted once.
func TestIdleSpreadsOverHolders(t *testing.T) {
	var srv echoCounter
	ts := httptest.NewServer(&srv)
	t.Cleanup(ts.Close)
	addr := strings.TrimPrefix(ts.URL, "http://")
	out, err := exec.Command(os.Args[0], "idle", "-targets", addr, "-conns", "7", "-per-process", "3",
		"-settle", "0s", "-pids", strconv.Itoa(os.Getpid())).Output()
	if err != nil {
		t.Fatalf("wsbench idle: %v", err)
	}
	var res bench.IdleResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if res.Conns != 7 || res.Failed != 0 || res.Echoed != 7 || res.RSSBefore <= 0 || res.RSSAfter <= 0 {
		t.Errorf("result %+v, want 7 connections open and echoed", res)
	}
	if p := srv.peak.Load(); p != 7 {
		t.Errorf("%d connections were open at once at the server, want 7", p)
	}
}

// TestIdleCountsFailures checks connections that cannot open are counted, not fatal.
func TestIdleCountsFailures(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(ts.Close)
	out, err := exec.Command(os.Args[0], "idle", "-targets", strings.TrimPrefix(ts.URL, "http://"), "-conns", "4",
		"-per-process", "3", "-settle", "0s", "-pids", strconv.Itoa(os.Getpid())).Output()
	if err != nil {
		t.Fatalf("wsbench idle: %v", err)
	}
	var res bench.IdleResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if res.Conns != 0 || res.Failed != 4 || res.Echoed != 0 {
		t.Errorf("result %+v, want 4 failed", res)
	}
}

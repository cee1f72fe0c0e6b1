package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/stablering/stablering/gateway/resume"
)

// startStateServer is a chat server keeping its rooms in dir, run as run runs it; stop shuts it
// down and waits for its state to be saved.
func startStateServer(t *testing.T, dir string) (url string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cfg := config{listen: addr, pod: "chat-0", shutdownWindow: 100 * time.Millisecond, stateDir: dir}
	go func() { done <- run(ctx, cfg, slog.New(slog.DiscardHandler)) }()
	url = "http://" + addr
	waitUp(t, url)
	var stopped bool
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("run: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	return url, stop
}

func waitUp(t *testing.T, url string) {
	t.Helper()
	for range 100 {
		if resp, err := http.Get(url + "/healthz"); err == nil {
			_ = resp.Body.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not come up", url)
}

// dialAsGateway opens a WebSocket with the headers a gateway sends, and returns it with the
// member's answer header.
func dialAsGateway(t *testing.T, url string, header http.Header) (*websocket.Conn, http.Header, int) {
	t.Helper()
	//nolint:bodyclose // Dial takes care of the body
	conn, resp, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(url, "http")+"/ws?room=lobby",
		&websocket.DialOptions{HTTPHeader: header})
	if err != nil {
		if resp == nil {
			t.Fatal(err)
		}
		return nil, resp.Header, resp.StatusCode
	}
	t.Cleanup(func() { _ = conn.CloseNow() })
	return conn, resp.Header, resp.StatusCode
}

// TestResumeGetsMissedMessages runs a room through a restart as a gateway with resume sees it:
// a connection's token from its first pod, messages broadcast after the gateway let go of it,
// the pod's successor reading the room from the state directory, and the resume with the
// count of messages the client got, which brings exactly the missed messages in order and no
// welcome; the room's seq goes on from there.
func TestResumeGetsMissedMessages(t *testing.T) {
	dir := t.TempDir()
	url, stop := startStateServer(t, dir)
	held, header, _ := dialAsGateway(t, url, http.Header{resume.HeaderResumable: {"1"}})
	token := header.Get(resume.HeaderToken)
	if token != "0.c1" {
		t.Fatalf("token %q, want the welcome's seq and client id 0.c1", token)
	}
	var w welcome
	readJSON(t, held, &w)
	other, _, _ := dialAsGateway(t, url, nil)
	readJSON(t, other, &w)
	say(t, other, "one")
	var m message
	readJSON(t, held, &m) // seq 1: the held client got 2 messages, welcome included
	readJSON(t, other, &m)
	_ = held.CloseNow() // the gateway lets go of the member side
	say(t, other, "two")
	say(t, other, "three")
	for range 2 {
		readJSON(t, other, &m)
	}
	stop()

	url, _ = startStateServer(t, dir)
	resumed, header, code := dialAsGateway(t, url, http.Header{resume.HeaderResume: {token},
		resume.HeaderMemberMessages: {"2"}, resume.HeaderClientMessages: {"0"}})
	if code != http.StatusSwitchingProtocols || header.Get(resume.HeaderToken) != token {
		t.Fatalf("resume answered %d with token %q", code, header.Get(resume.HeaderToken))
	}
	for i, want := range []string{"two", "three"} {
		readJSON(t, resumed, &m)
		if m.Type != "message" || m.Text != want || m.Seq != uint64(i+2) {
			t.Fatalf("after the resume got %+v, want %q with seq %d", m, want, i+2)
		}
	}
	say(t, resumed, "four")
	readJSON(t, resumed, &m)
	if m.Seq != 4 || m.From != "c1" {
		t.Fatalf("the room goes on with %+v, want seq 4 from c1", m)
	}
}

// TestResumeRefused checks that the chat refuses a resume whose missed messages it does not
// have: without a state directory, and for a count beyond the room's messages.
func TestResumeRefused(t *testing.T) {
	ts := startServer(t, time.Second)
	_, _, code := dialAsGateway(t, ts.url, http.Header{resume.HeaderResume: {"5.c1"},
		resume.HeaderMemberMessages: {"3"}})
	if code != http.StatusServiceUnavailable {
		t.Fatalf("resume without the room's messages answered %d, want 503", code)
	}
	url, _ := startStateServer(t, t.TempDir())
	for _, got := range []int{0, 2} { // nothing received; more than the room has
		_, _, code := dialAsGateway(t, url, http.Header{resume.HeaderResume: {"0.c1"},
			resume.HeaderMemberMessages: {strconv.Itoa(got)}})
		if code != http.StatusServiceUnavailable {
			t.Errorf("resume with %d messages received answered %d, want 503", got, code)
		}
	}
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// testServer is a chat server on a loopback port, running serve as main does.
type testServer struct {
	*server
	url  string // http://127.0.0.1:PORT
	stop context.CancelFunc
	wait func() error // waits for serve to return and returns its result
}

func startServer(t *testing.T, window time.Duration) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	s := newServer("chat-test", slog.New(slog.DiscardHandler))
	done := make(chan error, 1)
	go func() { done <- s.serve(ctx, ln, window) }()
	ts := &testServer{server: s, url: "http://" + ln.Addr().String(), stop: stop, wait: sync.OnceValue(func() error { return <-done })}
	t.Cleanup(func() {
		stop()
		_ = ts.wait()
	})
	return ts
}

// handshake dials the WebSocket at the http:// url and returns the answer's status and header.
func handshake(url string) (*websocket.Conn, int, http.Header, error) {
	//nolint:bodyclose // Dial takes care of the body: nil after an upgrade, already read otherwise
	conn, resp, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(url, "http"), nil)
	if resp == nil {
		return conn, 0, nil, err
	}
	return conn, resp.StatusCode, resp.Header, err
}

func dial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	conn, _, _, err := handshake(url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { _ = conn.CloseNow() })
	return conn
}

// join dials the room and returns the connection and its welcome.
func join(t *testing.T, ts *testServer, room string) (*websocket.Conn, welcome) {
	t.Helper()
	conn := dial(t, ts.url+"/ws?room="+room)
	var w welcome
	readJSON(t, conn, &w)
	return conn, w
}

func readJSON(t *testing.T, conn *websocket.Conn, v any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, data, err := conn.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decoding %s: %v", data, err)
	}
}

func say(t *testing.T, conn *websocket.Conn, text string) {
	t.Helper()
	if err := conn.Write(context.Background(), websocket.MessageText, []byte(text)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func TestWelcomeAndBroadcastStayInRoom(t *testing.T) {
	ts := startServer(t, time.Second)
	alice, wa := join(t, ts, "a")
	bob, wb := join(t, ts, "a")
	carol, wc := join(t, ts, "b")
	for _, tc := range []struct {
		got, want welcome
	}{
		{wa, welcome{Type: "welcome", Room: "a", Pod: "chat-test", Client: wa.Client, Members: 1, Seq: 0}},
		{wb, welcome{Type: "welcome", Room: "a", Pod: "chat-test", Client: wb.Client, Members: 2, Seq: 0}},
		{wc, welcome{Type: "welcome", Room: "b", Pod: "chat-test", Client: wc.Client, Members: 1, Seq: 0}},
	} {
		if tc.got != tc.want || tc.got.Client == "" {
			t.Errorf("welcome = %+v, want %+v with a client id", tc.got, tc.want)
		}
	}

	// Each message reaches both members of room a, numbered in order.
	for i, m := range []struct {
		from *websocket.Conn
		id   string
		text string
	}{{alice, wa.Client, "hello"}, {bob, wb.Client, "hi alice"}} {
		say(t, m.from, m.text)
		want := message{Type: "message", Room: "a", Pod: "chat-test", Seq: uint64(i + 1), From: m.id, Text: m.text}
		for _, conn := range []*websocket.Conn{alice, bob} {
			var got message
			readJSON(t, conn, &got)
			if got != want {
				t.Errorf("room a got %+v, want %+v", got, want)
			}
		}
	}
	say(t, carol, "anyone?")
	// carol's first message is her own: nothing from room a reached room b.
	var got message
	readJSON(t, carol, &got)
	if want := (message{Type: "message", Room: "b", Pod: "chat-test", Seq: 1, From: wc.Client, Text: "anyone?"}); got != want {
		t.Errorf("room b got %+v, want %+v", got, want)
	}

	// A later joiner learns the room's counter.
	_, wd := join(t, ts, "a")
	if wd.Members != 3 || wd.Seq != 2 {
		t.Errorf("third member of room a welcomed with members=%d seq=%d, want 3 and 2", wd.Members, wd.Seq)
	}
}

func TestRoomKey(t *testing.T) {
	ts := startServer(t, time.Second)
	var w welcome
	readJSON(t, dial(t, ts.url+"/rooms/lobby/ws"), &w)
	if w.Room != "lobby" {
		t.Errorf("/rooms/lobby/ws joined room %q, want lobby", w.Room)
	}
	for _, path := range []string{"/ws", "/ws?room=", "/ws?room=" + strings.Repeat("x", maxRoomKeyBytes+1)} {
		_, code, _, err := handshake(ts.url + path)
		if err == nil || code != http.StatusBadRequest {
			t.Errorf("dial %.40s: status %d, %v; want 400", path, code, err)
		}
	}
}

func TestHTTPEndpoints(t *testing.T) {
	ts := startServer(t, time.Second)
	join(t, ts, "b")
	join(t, ts, "a")
	join(t, ts, "a")
	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"/", 200, "chat pod chat-test\n"},
		{"/healthz", 200, "ok\n"},
		{"/readyz", 200, "ready\n"},
		{"/rooms", 200, `{"pod":"chat-test","rooms":[{"room":"a","members":2,"seq":0},{"room":"b","members":1,"seq":0}]}` + "\n"},
		{"/nope", 404, "404 page not found\n"},
	} {
		code, body, servedBy := get(t, ts.url+tc.path)
		if code != tc.code || body != tc.body || servedBy != "chat-test" {
			t.Errorf("GET %s = %d %q (X-Served-By %q), want %d %q (chat-test)", tc.path, code, body, servedBy, tc.code, tc.body)
		}
	}
}

func get(t *testing.T, url string) (code int, body, servedBy string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(data), resp.Header.Get("X-Served-By")
}

func TestBadMessagesAreRefused(t *testing.T) {
	ts := startServer(t, time.Second)
	for _, tc := range []struct {
		name string
		typ  websocket.MessageType
		data []byte
		want websocket.StatusCode
	}{
		{"binary", websocket.MessageBinary, []byte{1, 2}, websocket.StatusUnsupportedData},
		{"too long", websocket.MessageText, bytes.Repeat([]byte("x"), maxMessageBytes+1), websocket.StatusMessageTooBig},
	} {
		conn, _ := join(t, ts, "a")
		if err := conn.Write(context.Background(), tc.typ, tc.data); err != nil {
			t.Fatal(err)
		}
		_, _, err := conn.Read(context.Background())
		if got := websocket.CloseStatus(err); got != tc.want {
			t.Errorf("after a %s message: %v, want close status %d", tc.name, err, tc.want)
		}
	}
}

func TestShutdownClosesWithGoingAwayOverTheWindow(t *testing.T) {
	const window = 800 * time.Millisecond
	ts := startServer(t, window)
	var conns []*websocket.Conn
	for i := range 8 {
		conn, _ := join(t, ts, []string{"a", "b"}[i%2])
		conns = append(conns, conn)
	}
	say(t, conns[0], "last words")
	var echo message
	readJSON(t, conns[0], &echo) // the message is queued for every member of room a

	start := time.Now()
	ts.stop()
	waitFor(t, func() bool { code, _, _ := get(t, ts.url+"/readyz"); return code == http.StatusServiceUnavailable })
	if code, _, _ := get(t, ts.url+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz during shutdown = %d, want 200", code)
	}
	_, code, header, err := handshake(ts.url + "/ws?room=a")
	if err == nil || code != http.StatusServiceUnavailable || header.Get("Retry-After") == "" {
		t.Errorf("joining during shutdown: status %d, header %v, %v; want 503 with Retry-After", code, header, err)
	}

	// Room a's members get the message sent before shutdown, then the close.
	var closes []time.Duration
	for i, conn := range conns {
		if i%2 == 0 && i > 0 {
			var m message
			readJSON(t, conn, &m)
			if m.Text != "last words" {
				t.Errorf("member %d got %+v before the close, want the last message", i, m)
			}
		}
		_, _, err := conn.Read(context.Background())
		if got := websocket.CloseStatus(err); got != websocket.StatusGoingAway {
			t.Errorf("member %d: %v, want close status 1001", i, err)
		}
		closes = append(closes, time.Since(start))
	}
	if err := ts.wait(); err != nil {
		t.Errorf("serve = %v, want nil", err)
	}
	// How the closes are spread over the window is checked on a fake clock by
	// TestDrainSpreadsOverTheWindow; here, only that shutdown ends within its bound.
	if took := time.Since(start); took > window+closeTimeout {
		t.Errorf("closes took until %v and shutdown %v, want shutdown within %v", slices.Max(closes), took, window+closeTimeout)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
	}
}

func TestParseConfig(t *testing.T) {
	env := map[string]string{"POD_NAME": "chat-3", "LISTEN_ADDR": "127.1.0.5:8080"}
	for _, tc := range []struct {
		args    []string
		env     map[string]string
		want    config
		wantErr string
	}{
		{nil, env, config{listen: "127.1.0.5:8080", pod: "chat-3", shutdownWindow: 2 * time.Second}, ""},
		{[]string{"--listen", "127.1.0.6:9090", "--shutdown-window", "5s", "--log-level", "debug"}, env,
			config{listen: "127.1.0.6:9090", pod: "chat-3", shutdownWindow: 5 * time.Second, logLevel: slog.LevelDebug}, ""},
		{nil, map[string]string{"POD_NAME": "chat-0"}, config{listen: ":8080", pod: "chat-0", shutdownWindow: 2 * time.Second}, ""},
		{[]string{"--shutdown-window", "-1s"}, env, config{}, "must not be negative"},
		{[]string{"--log-level", "loud"}, env, config{}, "log-level"},
		{[]string{"extra"}, env, config{}, "unexpected arguments"},
	} {
		got, err := parseConfig(tc.args, func(k string) string { return tc.env[k] }, io.Discard)
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("parseConfig(%q) error = %v, want one containing %q", tc.args, err, tc.wantErr)
		case tc.wantErr == "" && (err != nil || got != tc.want):
			t.Errorf("parseConfig(%q) = %+v, %v; want %+v", tc.args, got, err, tc.want)
		}
	}
	if got, err := parseConfig(nil, func(string) string { return "" }, io.Discard); err != nil || got.pod == "" {
		t.Errorf("without POD_NAME: %+v, %v; want the hostname as pod", got, err)
	}
}

// TestSIGTERM runs the real binary bound to a specific loopback address and stops it the way
// the kubelet does.
func TestSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "chat")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "--listen", "127.0.0.1:0", "--shutdown-window", "100ms")
	cmd.Env = append(os.Environ(), "POD_NAME=chat-7")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	logs := bufio.NewScanner(stderr)
	addr := listenAddr(t, logs)
	go func() { // keep the pipe drained
		for logs.Scan() {
		}
	}()

	conn := dial(t, "http://"+addr+"/rooms/r1/ws")
	var w welcome
	readJSON(t, conn, &w)
	if w.Pod != "chat-7" {
		t.Errorf("welcome from pod %q, want chat-7 from POD_NAME", w.Pod)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_, _, err = conn.Read(context.Background())
	if got := websocket.CloseStatus(err); got != websocket.StatusGoingAway {
		t.Errorf("after SIGTERM: %v, want close status 1001", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("chat exited with %v, want 0", err)
	}
}

// listenAddr reads the JSON logs until the "listening" line and returns its address.
func listenAddr(t *testing.T, logs *bufio.Scanner) string {
	t.Helper()
	for logs.Scan() {
		var line struct{ Msg, Addr, Pod string }
		if json.Unmarshal(logs.Bytes(), &line) == nil && line.Msg == "listening" {
			return line.Addr
		}
	}
	t.Fatalf("no listening line in the logs (%v)", logs.Err())
	return ""
}

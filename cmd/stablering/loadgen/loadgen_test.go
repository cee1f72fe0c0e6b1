package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestRoomURL(t *testing.T) {
	for _, tc := range []struct {
		template, want, wantErr string
	}{
		{"ws://gw:8080/ws", "ws://gw:8080/ws?room=r+1", ""},
		{"ws://gw:8080/ws?token=x", "ws://gw:8080/ws?room=r+1&token=x", ""},
		{"wss://gw/rooms/{room}/ws", "wss://gw/rooms/r%201/ws", ""},
		{"http://gw/chat?room={room}", "http://gw/chat?room=r%201", ""},
		{"ftp://gw/ws", "", "scheme"},
		{"ws:///ws", "", "no host"},
		{"ws://gw/%zz", "", "bad URL"},
	} {
		got, err := roomURL(tc.template, "r 1")
		if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) || tc.wantErr == "" && (err != nil || got != tc.want) {
			t.Errorf("roomURL(%q) = %q, %v; want %q or an error with %q", tc.template, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestRunRejectsBadConfigs(t *testing.T) {
	for _, change := range []func(*Config){
		func(c *Config) { c.Connections = 0 },
		func(c *Config) { c.Rooms = -1 },
		func(c *Config) { c.Duration = -time.Second },
		func(c *Config) { c.EchoTimeout = 0 },
		func(c *Config) { c.BackoffMin, c.BackoffMax = time.Second, time.Millisecond },
		func(c *Config) { c.URL = "gateway:8080" },
	} {
		cfg := DefaultConfig()
		change(&cfg)
		if s, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("Run(%+v) = %+v, want an error", cfg, s)
		}
	}
}

// buildChat builds the chat example.
func buildChat(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "chat")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/stablering/stablering/examples/chat").CombinedOutput(); err != nil {
		t.Fatalf("building the chat example: %v\n%s", err, out)
	}
	return bin
}

// startChat runs the chat example as pod on addr and returns the address it listens on.
func startChat(t *testing.T, bin, pod, addr string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, "--listen", addr, "--shutdown-window", "300ms")
	cmd.Env = append(os.Environ(), "POD_NAME="+pod)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	logs := bufio.NewScanner(stderr)
	for logs.Scan() {
		var line struct{ Msg, Addr string }
		if json.Unmarshal(logs.Bytes(), &line) == nil && line.Msg == "listening" {
			go func() { // keep the pipe drained
				for logs.Scan() {
				}
			}()
			return cmd, line.Addr
		}
	}
	t.Fatalf("chat did not log its address (%v)", logs.Err())
	return nil, ""
}

// restartChat stops cmd with SIGTERM, checks that it exits 0, and starts newPod on addr.
func restartChat(t *testing.T, bin string, cmd *exec.Cmd, newPod, addr string) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Error(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("chat exited with %v, want 0", err)
	}
	startChat(t, bin, newPod, addr)
}

// TestRestart runs 50 connections over 10 rooms against the chat example and restarts it in the
// middle of the run, the way a StatefulSet restarts a pod: same name, or, for comparison, a
// different one.
func TestRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the chat example for seconds")
	}
	bin := buildChat(t)
	for _, tc := range []struct {
		name, newPod                   string
		podChanged, roomsChangedOwners int
	}{
		{"same pod name", "chat-0", 0, 0},
		{"new pod name", "chat-1", 50, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cmd, addr := startChat(t, bin, "chat-0", "127.0.0.1:0")
			var snapshots []Stats
			cfg := Config{
				URL: "ws://" + addr + "/ws", Connections: 50, Rooms: 10, Duration: 4 * time.Second,
				Ramp: 200 * time.Millisecond, MessageInterval: 100 * time.Millisecond, EchoTimeout: time.Second,
				BackoffMin: 50 * time.Millisecond, BackoffMax: 500 * time.Millisecond,
				ReportInterval: 500 * time.Millisecond, OnStats: func(s Stats) { snapshots = append(snapshots, s) },
			}
			summary := make(chan *Summary, 1)
			go func() {
				s, err := Run(context.Background(), cfg)
				if err != nil {
					t.Error(err)
				}
				summary <- s
			}()
			time.Sleep(1200 * time.Millisecond)
			restartChat(t, bin, cmd, tc.newPod, addr)
			if s := <-summary; s != nil {
				checkRestartSummary(t, s, tc.podChanged, tc.roomsChangedOwners)
				checkSnapshots(t, snapshots, s)
			}
		})
	}
}

func checkRestartSummary(t *testing.T, s *Summary, podChanged, roomsChangedOwner int) {
	t.Helper()
	if want := (ReconnectStats{Total: 50, Mean: 1, Max: 1, ByCount: [4]int{0, 50, 0, 0}}); s.Reconnects != want {
		t.Errorf("reconnects = %+v, want every connection to reconnect exactly once: %+v", s.Reconnects, want)
	}
	var connects, disconnects, held, clientHeld int
	for _, second := range s.Timeline {
		connects, disconnects, held = connects+second.Connects, disconnects+second.Disconnects, held+second.HeldAnswers
	}
	for _, c := range s.Clients {
		clientHeld += c.HeldAnswers
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"connections", s.Connections, 50},
		{"rooms", s.Rooms, 10},
		{"never connected", s.NeverConnected, 0},
		{"connects in the timeline", connects, 100},
		{"disconnects", s.Disconnects, 50},
		{"disconnects in the timeline", disconnects, 50},
		{"held answers in the timeline", held, s.HeldAnswers},
		{"held answers of the clients", clientHeld, s.HeldAnswers},
		{"peak disconnects", s.PeakDisconnects.Disconnects, s.Timeline[s.PeakDisconnects.Second].Disconnects},
		{"peak share", s.PeakDisconnects.Share, float64(s.PeakDisconnects.Disconnects) / 50},
		{"connections whose pod changed", s.ConnectionsPodChanged, podChanged},
		{"rooms that changed owner", s.RoomsChangedOwner, roomsChangedOwner},
		{"room-split seconds", s.RoomSplitSeconds, 0.0},
		{"messages lost", s.Messages.Lost, 0},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if s.Messages.Sent < 50*20 || s.DurationSeconds < 4 {
		t.Errorf("sent %d messages in %.1fs, want over 1000 in 4s", s.Messages.Sent, s.DurationSeconds)
	}
	for _, c := range s.Clients {
		if len(c.Pods) != 2 || c.Pods[0].Pod != "chat-0" || c.Pods[1].At < 1.2 {
			t.Errorf("client %d sessions %+v, want chat-0 then a pod after the restart at 1.2s", c.Index, c.Pods)
		}
	}
}

func checkSnapshots(t *testing.T, snapshots []Stats, s *Summary) {
	t.Helper()
	var disconnects int
	for _, snap := range snapshots {
		disconnects += snap.Disconnects
	}
	if n := len(snapshots); n < 6 || disconnects != s.Disconnects || snapshots[n-1].Live != 50 || snapshots[n-1].MessagesSent == 0 {
		t.Errorf("snapshots %+v, want one every 0.5s adding up to %d disconnects, ending with 50 live connections", snapshots, s.Disconnects)
	}
}

// TestHeldAnswerHonoursRetryAfter answers the first attempt with 503 and Retry-After: 1, the way
// a StableRing gateway holds a restarting member's rooms, and then lets the client in.
func TestHeldAnswerHonoursRetryAfter(t *testing.T) {
	var attempts atomic.Int32
	start := time.Now()
	var admitted atomic.Int64 // when the second attempt came, since start
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if attempts.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "held", http.StatusServiceUnavailable)
			return
		}
		admitted.Store(int64(time.Since(start)))
		serveEcho(r.Context(), w, r)
	}))
	defer srv.Close()

	s, err := Run(context.Background(), Config{
		URL: srv.URL + "/rooms/{room}/ws", Connections: 1, Rooms: 1, Duration: 2 * time.Second,
		MessageInterval: 100 * time.Millisecond, EchoTimeout: time.Second,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := time.Duration(admitted.Load()); got < time.Second {
		t.Errorf("second attempt after %v, want at least the Retry-After of 1s", got)
	}
	c := s.Clients[0]
	if s.HeldAnswers != 1 || c.HeldAnswers != 1 || c.Reconnects != 0 || len(c.Pods) != 1 || c.Pods[0].Pod != "echo-0" {
		t.Errorf("summary %+v, client %+v; want one held answer, then one session on echo-0", s, c)
	}
	if c.Messages.Sent < 5 || c.Messages.Lost != 0 {
		t.Errorf("messages %+v, want several, none lost", c.Messages)
	}
}

// serveEcho speaks the chat example's protocol for a room of one.
func serveEcho(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer func() { _ = conn.CloseNow() }()
	if conn.Write(ctx, websocket.MessageText, []byte(`{"type":"welcome","pod":"echo-0"}`)) != nil {
		return
	}
	for {
		_, text, err := conn.Read(ctx)
		if err != nil {
			return
		}
		m, _ := json.Marshal(serverMessage{Type: "message", Pod: "echo-0", Text: string(text)})
		if conn.Write(ctx, websocket.MessageText, m) != nil {
			return
		}
	}
}

// TestURLsSpreadConnections checks that connection i uses URLs[i mod len(URLs)], as the demo
// and the e2e suite use one URL per gateway replica.
func TestURLsSpreadConnections(t *testing.T) {
	var hits [2]atomic.Int32
	servers := make([]string, 2)
	for i := range servers {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits[i].Add(1)
			serveEcho(r.Context(), w, r)
		}))
		defer srv.Close()
		servers[i] = srv.URL + "/ws"
	}
	s, err := Run(context.Background(), Config{
		URLs: servers, Connections: 5, Rooms: 5, Duration: 500 * time.Millisecond,
		EchoTimeout: time.Second, BackoffMin: 10 * time.Millisecond, BackoffMax: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.NeverConnected != 0 || hits[0].Load() != 3 || hits[1].Load() != 2 {
		t.Errorf("hits %d and %d, never connected %d; want 3 and 2 (connections 0, 2, 4 and 1, 3), 0", hits[0].Load(), hits[1].Load(), s.NeverConnected)
	}
	if _, err := Run(context.Background(), Config{URLs: []string{servers[0], "ftp://x"}, Connections: 1, Rooms: 1,
		EchoTimeout: time.Second, BackoffMin: time.Millisecond, BackoffMax: time.Millisecond}); err == nil {
		t.Error("a bad URL among URLs was accepted")
	}
}

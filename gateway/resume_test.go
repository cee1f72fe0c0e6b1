package gateway_test

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/gateway/resolved"
	"github.com/stablering/stablering/gateway/resume"
)

// resumeMember is a ring member that takes part in resume: it answers a resumable handshake
// with a token, greets only new connections, echoes, and records the resume handshakes it
// gets. refuse makes it answer resumes with 503; protocol is the subprotocol it accepts.
type resumeMember struct {
	srv      *httptest.Server
	addr     string
	refuse   bool
	protocol string

	mu      sync.Mutex
	resumes []http.Header // the headers of the resume handshakes
	got     []string      // the messages received
}

func newResumeMember(t *testing.T, refuse bool, protocol string) *resumeMember {
	return newResumeMemberAt(t, "127.0.0.1:0", refuse, protocol)
}

// newResumeMemberAt is newResumeMember listening on addr.
func newResumeMemberAt(t *testing.T, addr string, refuse bool, protocol string) *resumeMember {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	m := &resumeMember{refuse: refuse, protocol: protocol, addr: ln.Addr().String()}
	m.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(m.serve)}}
	m.srv.Start()
	t.Cleanup(m.srv.Close)
	return m
}

func (m *resumeMember) serve(w http.ResponseWriter, r *http.Request) {
	resuming := r.Header.Get(resume.HeaderResume) != ""
	if resuming {
		m.mu.Lock()
		m.resumes = append(m.resumes, r.Header.Clone())
		m.mu.Unlock()
		if m.refuse {
			http.Error(w, "no", http.StatusServiceUnavailable)
			return
		}
	}
	if r.Header.Get(resume.HeaderResumable) != "" {
		w.Header().Set(resume.HeaderToken, "token-1")
	}
	opts := &websocket.AcceptOptions{}
	if m.protocol != "" {
		opts.Subprotocols = []string{m.protocol}
	}
	c, err := websocket.Accept(w, r, opts)
	if err != nil {
		return
	}
	ctx := context.Background()
	if !resuming && c.Write(ctx, websocket.MessageText, []byte("hello")) != nil {
		return
	}
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		m.mu.Lock()
		m.got = append(m.got, string(data))
		m.mu.Unlock()
		if c.Write(ctx, typ, data) != nil {
			return
		}
	}
}

func (m *resumeMember) resumeHeaders() []http.Header {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.resumes
}

// resumeRing is a ring of one member at addr with resume on, bounded by maxBytes and maxSeconds.
func resumeRing(addr string, maxBytes, maxSeconds int32) resolved.Ring {
	sr := newRing("chat", nil, func(sr *resolved.Ring) {
		sr.Spec.Connections.Resume = &v1alpha1.ResumeSpec{MaxBufferedBytes: maxBytes, MaxSeconds: maxSeconds}
		sr.Members = []v1alpha1.Member{{Ordinal: 0, Address: addr, State: v1alpha1.MemberServing}}
	})
	return sr
}

// restart takes the ring's member through a planned restart: Draining, then Restarting with
// the old member closed, as the controller and the StatefulSet do.
func restart(t *testing.T, h *harness, sr *resolved.Ring, old *resumeMember) {
	t.Helper()
	setState(sr, 0, v1alpha1.MemberDraining)
	h.g.Update([]resolved.Ring{*sr})
	time.Sleep(300 * time.Millisecond) // the member answers the gateway's Close frame
	setState(sr, 0, v1alpha1.MemberRestarting)
	h.g.Update([]resolved.Ring{*sr})
	old.srv.CloseClientConnections()
}

// serveAgain makes the ring's member Serving at addr, as a restarted pod.
func serveAgain(h *harness, sr *resolved.Ring, addr string) {
	sr.Members[0].Address = addr
	setState(sr, 0, v1alpha1.MemberServing)
	h.g.Update([]resolved.Ring{*sr})
}

func metricsOf(t *testing.T, h *harness) string {
	_, m := get(t, h.admin+"/metrics")
	return m
}

// dialResumable opens a WebSocket to the ring through the gateway and reads the greeting.
func dialResumable(t *testing.T, h *harness, protocols ...string) *wsClient {
	t.Helper()
	return dialResumableWith(t, h, nil, protocols...)
}

// dialResumableWith is dialResumable with header fields.
func dialResumableWith(t *testing.T, h *harness, header http.Header, protocols ...string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws://"+h.host+"/ws?room=r",
		&websocket.DialOptions{Subprotocols: protocols, HTTPHeader: header})
	replyOf(resp)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	_, greeting, err := c.Read(ctx)
	if err != nil || string(greeting) != "hello" {
		t.Fatalf("greeting %q, %v", greeting, err)
	}
	w := &wsClient{conn: c, greeting: string(greeting), msgs: make(chan string, 16), closed: make(chan struct{})}
	go w.read()
	return w
}

// TestResume takes a WebSocket through its member's planned restart: the client is never
// closed, its pings are answered and its message is held while the member restarts, the
// restarted member gets the resume headers with the token and the counts, then the held
// message, and the connection goes on. Both servers: a handshake head over 4 KiB goes to
// net/http's.
func TestResume(t *testing.T) {
	t.Run("own path", func(t *testing.T) { testResume(t, nil) })
	t.Run("net/http", func(t *testing.T) {
		testResume(t, http.Header{"X-Large": {strings.Repeat("x", 5<<10)}})
	})
}

func testResume(t *testing.T, header http.Header) {
	old := newResumeMember(t, false, "")
	sr := resumeRing(old.addr, 1<<16, 30)
	h := startGateway(t, testOptions(t))
	h.g.Update([]resolved.Ring{sr})
	c := dialResumableWith(t, h, header)
	if err := c.echo("a"); err != nil {
		t.Fatal(err)
	}

	restart(t, h, &sr, old)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.conn.Ping(ctx); err != nil {
		t.Fatalf("ping while the member restarts: %v", err)
	}
	if err := c.conn.Write(ctx, websocket.MessageText, []byte("b")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if c.isClosed() {
		t.Fatalf("client closed (%v) while its member restarts", c.code)
	}

	next := newResumeMember(t, false, "")
	serveAgain(h, &sr, next.addr)
	if err := c.expect(ctx, "b"); err != nil {
		t.Fatalf("the held message's echo after the resume: %v", err)
	}
	if err := c.echo("c"); err != nil {
		t.Fatal(err)
	}
	hs := next.resumeHeaders()
	if len(hs) != 1 {
		t.Fatalf("%d resume handshakes, want 1", len(hs))
	}
	want := map[string]string{resume.HeaderResume: "token-1", resume.HeaderClientMessages: "1",
		resume.HeaderMemberMessages: "2", resume.HeaderResumable: "", "X-Large": header.Get("X-Large")}
	for k, v := range want {
		if got := hs[0].Get(k); got != v {
			t.Errorf("resume header %s = %q, want %q", k, got, v)
		}
	}
	m := metricsOf(t, h)
	handedOff := !strings.Contains(m, "stablering_gateway_handoffs_total 0")
	if handedOff != (header != nil) {
		t.Errorf("handed off to net/http: %v, want %v", handedOff, header != nil)
	}
	for _, line := range []string{`stablering_gateway_resumes_total{result="resumed",ring="default/chat"} 1`,
		`stablering_gateway_resume_seconds_count{ring="default/chat"} 1`} {
		if !strings.Contains(m, line) {
			t.Errorf("metrics lack %s", line)
		}
	}
}

// TestResumeFails checks that every way a resume can fail closes the client as a gateway
// without resume would (1012, 1001 for a shutdown), and counts the failure by reason.
func TestResumeFails(t *testing.T) {
	cases := []struct {
		name     string
		maxBytes int32
		hold     int32
		budget   int
		protocol string // the client's and first member's subprotocol
		act      func(t *testing.T, h *harness, sr *resolved.Ring, c *wsClient)
		code     websocket.StatusCode
		reason   string
	}{
		{name: "refused", act: func(t *testing.T, h *harness, sr *resolved.Ring, _ *wsClient) {
			serveAgain(h, sr, newResumeMember(t, true, "").addr)
		}, code: websocket.StatusServiceRestart, reason: "refused"},
		{name: "another subprotocol", protocol: "chat", act: func(t *testing.T, h *harness, sr *resolved.Ring, _ *wsClient) {
			serveAgain(h, sr, newResumeMember(t, false, "").addr)
		}, code: websocket.StatusServiceRestart, reason: "mismatch"},
		{name: "unreachable until the bound", hold: 1, act: func(t *testing.T, h *harness, sr *resolved.Ring, _ *wsClient) {
			serveAgain(h, sr, closedAddress(t))
		}, code: websocket.StatusServiceRestart, reason: "unreached"},
		{name: "over the connection's bound", maxBytes: 100, act: func(t *testing.T, _ *harness, _ *resolved.Ring, c *wsClient) {
			_ = c.conn.Write(context.Background(), websocket.MessageText, make([]byte, 200))
		}, code: websocket.StatusServiceRestart, reason: "buffer"},
		{name: "over the gateway's budget", budget: 100, act: func(t *testing.T, _ *harness, _ *resolved.Ring, c *wsClient) {
			_ = c.conn.Write(context.Background(), websocket.MessageText, make([]byte, 200))
		}, code: websocket.StatusServiceRestart, reason: "budget"},
		{name: "held too long", hold: 1, act: func(*testing.T, *harness, *resolved.Ring, *wsClient) {},
			code: websocket.StatusServiceRestart, reason: "timeout"},
		{name: "member down", act: func(t *testing.T, h *harness, sr *resolved.Ring, _ *wsClient) {
			setState(sr, 0, v1alpha1.MemberDown)
			h.g.Update([]resolved.Ring{*sr})
		}, code: websocket.StatusServiceRestart, reason: "down"},
		{name: "resume turned off", act: func(t *testing.T, h *harness, sr *resolved.Ring, _ *wsClient) {
			sr.Spec.Connections.Resume = nil
			h.g.Update([]resolved.Ring{*sr})
		}, code: websocket.StatusServiceRestart, reason: "down"},
		{name: "gateway shutdown", act: func(t *testing.T, h *harness, _ *resolved.Ring, _ *wsClient) {
			go h.stop()
		}, code: websocket.StatusGoingAway, reason: "shutdown"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := newResumeMember(t, false, tc.protocol)
			sr := resumeRing(old.addr, cmp.Or(tc.maxBytes, 1<<16), cmp.Or(tc.hold, 30))
			opts := testOptions(t)
			opts.ResumeBufferBudget = tc.budget
			h := startGateway(t, opts)
			h.g.Update([]resolved.Ring{sr})
			var protocols []string
			if tc.protocol != "" {
				protocols = []string{tc.protocol}
			}
			c := dialResumable(t, h, protocols...)
			restart(t, h, &sr, old)
			tc.act(t, h, &sr, c)
			if !c.waitClosed(5 * time.Second) {
				t.Fatal("client not closed")
			}
			if c.code != tc.code {
				t.Errorf("closed with %v, want %v", c.code, tc.code)
			}
			if tc.reason == "shutdown" {
				return // the metrics went with the gateway
			}
			line := fmt.Sprintf(`stablering_gateway_resume_failures_total{reason=%q,ring="default/chat"} 1`, tc.reason)
			eventually(t, 2*time.Second, line, func() bool { return strings.Contains(metricsOf(t, h), line) })
		})
	}
}

// TestResumeRetries checks that a restarted member that does not take the resume at first
// (nothing listens yet, then the answer does not come within the upgrade timeout) is tried
// again while the hold lasts: the client is never closed, and gets its held message's echo
// from the member that finally answers.
func TestResumeRetries(t *testing.T) {
	old := newResumeMember(t, false, "")
	sr := resumeRing(old.addr, 1<<16, 30)
	opts := testOptions(t)
	opts.UpgradeTimeout = 300 * time.Millisecond
	h := startGateway(t, opts)
	h.g.Update([]resolved.Ring{sr})
	c := dialResumable(t, h)
	restart(t, h, &sr, old)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, []byte("held")); err != nil {
		t.Fatal(err)
	}

	// Serving at an address nobody listens on: the tries fail to connect.
	addr := closedAddress(t)
	serveAgain(h, &sr, addr)
	time.Sleep(500 * time.Millisecond)
	// Then something listens there that takes connections and never answers: the tries time out.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var silent []net.Conn
	var mu sync.Mutex
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range silent {
			_ = c.Close()
		}
	})
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			silent = append(silent, conn)
			mu.Unlock()
		}
	}()
	eventually(t, 5*time.Second, "two tries that got no answer", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(silent) >= 2
	})
	_ = ln.Close()
	// At last the restarted member serves at that address.
	next := newResumeMemberAt(t, addr, false, "")
	if err := c.expect(ctx, "held"); err != nil {
		t.Fatalf("the held message's echo after the resume: %v", err)
	}
	if c.isClosed() {
		t.Fatalf("client closed (%v)", c.code)
	}
	if n := len(next.resumeHeaders()); n != 1 {
		t.Errorf("%d resume handshakes reached the member, want 1", n)
	}
	m := metricsOf(t, h)
	if line := `stablering_gateway_resumes_total{result="resumed",ring="default/chat"} 1`; !strings.Contains(m, line) {
		t.Errorf("metrics lack %s", line)
	}
	if strings.Contains(m, "stablering_gateway_resume_failures_total{") {
		t.Errorf("a failure was counted:\n%s", grepLines(m, "resume_failures"))
	}
}

// closedAddress is a loopback address nobody listens on.
func closedAddress(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// TestResumeMidMessage checks that a client whose fragmented message is still open when the
// drain's grace ends is closed with 1012, not resumed: the restarted member could not receive
// the message's end without its beginning.
func TestResumeMidMessage(t *testing.T) {
	old := newResumeMember(t, false, "")
	sr := resumeRing(old.addr, 1<<16, 30)
	h := startGateway(t, testOptions(t)) // close grace 500ms
	h.g.Update([]resolved.Ring{sr})
	conn, br := bareWebSocket(t, h.host)
	readServerFrame(t, br) // the greeting
	// The first fragment of a text message, and no more.
	writeClientFrame(t, conn, false, websocket.MessageText, []byte("half"))
	time.Sleep(100 * time.Millisecond)
	setState(&sr, 0, v1alpha1.MemberDraining)
	h.g.Update([]resolved.Ring{sr})
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	op, payload := readServerFrame(t, br)
	if op != 0x8 || len(payload) < 2 || binary.BigEndian.Uint16(payload) != 1012 {
		t.Fatalf("got opcode %d payload %q, want a Close frame with 1012", op, payload)
	}
	line := `stablering_gateway_resume_failures_total{reason="mid-message",ring="default/chat"} 1`
	eventually(t, 2*time.Second, line, func() bool { return strings.Contains(metricsOf(t, h), line) })
}

// TestResumeForgedHeaders checks that a ring with resume on refuses a handshake that carries
// the resume protocol's fields, which only a gateway may send to a member.
func TestResumeForgedHeaders(t *testing.T) {
	m := newResumeMember(t, false, "")
	sr := resumeRing(m.addr, 1<<16, 30)
	h := startGateway(t, testOptions(t))
	h.g.Update([]resolved.Ring{sr})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, "ws://"+h.host+"/ws?room=r", &websocket.DialOptions{
		HTTPHeader: http.Header{resume.HeaderResume: {"token-1"}, resume.HeaderMemberMessages: {"0"}},
	})
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("forged resume: %v, %v; want 400", err, status(replyOf(resp)))
	}
	if len(m.resumeHeaders()) != 0 {
		t.Fatal("the member got a forged resume")
	}
}

// TestResumeNeedsToken checks that a member that gives no token gets today's drain: its
// client is closed with 1012.
func TestResumeNeedsToken(t *testing.T) {
	bs := newBackends(t, 1) // greets with "member 0", gives no token
	sr := newRing("chat", bs, func(sr *resolved.Ring) {
		sr.Spec.Connections.Resume = &v1alpha1.ResumeSpec{MaxBufferedBytes: 1 << 16, MaxSeconds: 30}
	})
	h := startGateway(t, testOptions(t))
	h.g.Update([]resolved.Ring{sr})
	c := mustDialWS(t, h, "r")
	setState(&sr, 0, v1alpha1.MemberDraining)
	h.g.Update([]resolved.Ring{sr})
	if !c.waitClosed(4*time.Second) || c.code != websocket.StatusServiceRestart {
		t.Fatalf("closed %v with %v, want 1012 within the drain", c.isClosed(), c.code)
	}
}

// bareWebSocket opens a WebSocket to the gateway on a bare connection.
func bareWebSocket(t *testing.T, host string) (net.Conn, *bufio.Reader) {
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	fmt.Fprintf(conn, "GET /ws?room=r HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", host, base64.StdEncoding.EncodeToString(key))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	_ = resp.Body.Close()
	return conn, br
}

// writeClientFrame writes a masked frame.
func writeClientFrame(t *testing.T, conn net.Conn, fin bool, typ websocket.MessageType, payload []byte) {
	b0 := byte(typ)
	if fin {
		b0 |= 0x80
	}
	f := []byte{b0, 0x80 | byte(len(payload)), 1, 2, 3, 4}
	for i, p := range payload {
		f = append(f, p^f[2+i%4])
	}
	if _, err := conn.Write(f); err != nil {
		t.Fatal(err)
	}
}

// readServerFrame reads an unmasked frame with a short payload.
func readServerFrame(t *testing.T, br *bufio.Reader) (byte, []byte) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, h[1]&0x7F)
	if _, err := io.ReadFull(br, payload); err != nil {
		t.Fatal(err)
	}
	return h[0] & 0x0F, payload
}

package gateway_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/gateway/resolved"
)

// Tests of the gateway under hostile input, from raw sockets: no answer reaches the wrong
// client, request framing is strict, every phase of a request is bounded in time and memory,
// and the gateway's own failures are not blamed on members. They hold for any serving path.

// rawClient is a connection to the gateway that the test writes and reads byte by byte.
type rawClient struct {
	net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, h *harness) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", h.host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rawClient{Conn: c, br: bufio.NewReader(c)}
}

func (c *rawClient) send(t testing.TB, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
}

// response reads one answer to a request with method, body included, waiting at most 5 s.
func (c *rawClient) response(t testing.TB, method string) (*reply, string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer's body: %v", err)
	}
	return replyOf(resp), string(body)
}

// exchange sends a raw request on a new connection and reads the answer, body included.
func exchange(t testing.TB, h *harness, request string) (*reply, string) {
	t.Helper()
	c := dialRaw(t, h)
	c.send(t, request)
	method, _, _ := strings.Cut(request, " ")
	return c.response(t, method)
}

// ended reads until the gateway ends the connection or d passes, and returns what it read and
// whether the connection ended.
func (c *rawClient) ended(d time.Duration) (string, bool) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	data, err := io.ReadAll(c.br)
	var ne net.Error
	return string(data), !errors.As(err, &ne) || !ne.Timeout()
}

// recorder is a member that records the requests it receives and answers them with handler
// (nil: 200 with the request's URI).
type recorder struct {
	*backend
	mu   sync.Mutex
	seen []*http.Request
}

func newRecorder(t testing.TB, handler http.HandlerFunc) *recorder {
	rec := &recorder{backend: &backend{}}
	if handler == nil {
		handler = func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.RequestURI) }
	}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.seen = append(rec.seen, r)
		rec.mu.Unlock()
		handler(w, r)
	}))
	rec.addr = rec.srv.Listener.Addr().String()
	t.Cleanup(rec.srv.Close)
	return rec
}

// uris returns the request URIs the member received so far.
func (rec *recorder) uris() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []string
	for _, r := range rec.seen {
		out = append(out, r.RequestURI)
	}
	return out
}

// last returns the last request the member received.
func (rec *recorder) last(t testing.TB) *http.Request {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.seen) == 0 {
		t.Fatal("the member received nothing")
	}
	return rec.seen[len(rec.seen)-1]
}

// TestPoolNeverHandsBytesToTheNextClient: a member that sends bytes on an idle keep-alive
// connection (an unsolicited answer, or a body after its answer to HEAD) must not poison the
// pool: every client gets the answer to its own request.
func TestPoolNeverHandsBytesToTheNextClient(t *testing.T) {
	rogue := map[string]string{
		"unsolicited answer": "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nPOISONED",
		"garbage":            "POISONED",
		"early close":        "",
	}
	for name, extra := range rogue {
		t.Run(name, func(t *testing.T) {
			settled := make(chan struct{}, 16) // the member has sent (or closed) after an answer
			rb := newRawBackend(t, func(c net.Conn, br *bufio.Reader) {
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					id := req.URL.Query().Get("id")
					head := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(id))
					if req.Method == http.MethodHead {
						_, _ = io.WriteString(c, head)
						time.Sleep(30 * time.Millisecond)
						_, _ = io.WriteString(c, id) // a body after HEAD
						settled <- struct{}{}
						continue
					}
					_, _ = io.WriteString(c, head+id)
					time.Sleep(30 * time.Millisecond) // the connection is idle at the gateway by now
					if extra == "" {
						_ = c.Close()
						settled <- struct{}{}
						return
					}
					_, _ = io.WriteString(c, extra)
					settled <- struct{}{}
				}
			})
			h := gatewayFor(t, &rb.backend, testOptions(t))
			for i := range 6 {
				id := fmt.Sprintf("request-%d", i)
				method := http.MethodGet
				if i%3 == 2 {
					method = http.MethodHead
				}
				req, _ := http.NewRequest(method, h.url+"/?room=a&id="+id, nil)
				resp, err := timely.Do(req)
				if err != nil {
					t.Fatalf("%s %s: %v", method, id, err)
				}
				body := readAll(t, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != 200 || method == http.MethodGet && body != id {
					t.Fatalf("%s %s got %s %q: another exchange's bytes", method, id, resp.Status, body)
				}
				select { // the next request goes out once the rogue bytes are at the gateway
				case <-settled:
				case <-time.After(5 * time.Second):
					t.Fatal("the member did not send its extra bytes")
				}
			}
		})
	}
}

// TestSmugglingRefused: a request with both Content-Length and Transfer-Encoding, in either
// order, followed by a pipelined request, is refused with 400 or answered and then the
// connection closed: the pipelined request never reaches a member.
func TestSmugglingRefused(t *testing.T) {
	rec := newRecorder(t, nil)
	h := gatewayFor(t, rec.backend, testOptions(t))
	smuggled := "GET /SMUGGLED?room=a HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, headers := range []string{
		"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n",
		"Transfer-Encoding: chunked\r\nContent-Length: 6\r\n",
	} {
		c := dialRaw(t, h)
		c.send(t, "POST /?room=a HTTP/1.1\r\nHost: x\r\n"+headers+"\r\n0\r\n\r\n"+smuggled)
		resp, _ := c.response(t, http.MethodPost)
		if resp.StatusCode != http.StatusBadRequest {
			if rest, ended := c.ended(2 * time.Second); !ended || rest != "" {
				t.Errorf("%q: %s, then the connection stayed open (read %q)", headers, resp.Status, rest)
			}
		}
	}
	for _, uri := range rec.uris() {
		if strings.Contains(uri, "SMUGGLED") {
			t.Fatalf("the member received the smuggled request: %v", rec.uris())
		}
	}
}

// TestMalformedChunkRefused: a chunked body whose first chunk size is not hexadecimal gets 400
// from the gateway, and the member never sees the request.
func TestMalformedChunkRefused(t *testing.T) {
	rec := newRecorder(t, nil)
	h := gatewayFor(t, rec.backend, testOptions(t))
	if resp, body := exchange(t, h, "POST /?room=a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"); resp.StatusCode != http.StatusBadRequest ||
		!strings.HasPrefix(body, "stablering: ") {
		t.Fatalf("malformed chunk size: %s %q", resp.Status, body)
	}
	if uris := rec.uris(); len(uris) != 0 {
		t.Fatalf("the member received %v", uris)
	}
	// A well-formed chunked body still reaches the member whole.
	rec2 := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(w, r.Body) })
	h2 := gatewayFor(t, rec2.backend, testOptions(t))
	c2 := dialRaw(t, h2)
	c2.send(t, "POST /?room=a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
	if resp, body := c2.response(t, http.MethodPost); resp.StatusCode != 200 || body != "hello world" {
		t.Fatalf("chunked body: %s %q", resp.Status, body)
	}
}

// TestHeaderLimits: too many header fields, or a head larger than MaxHeaderBytes, get 431;
// header names with underscores are dropped.
func TestHeaderLimits(t *testing.T) {
	rec := newRecorder(t, nil)
	h := gatewayFor(t, rec.backend, testOptions(t))
	many := func(n int, line string) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, line, i)
		}
		return b.String()
	}
	for name, head := range map[string]string{
		"101 fields":          many(101, "X-H-%d: v\r\n"),
		"5,000 fields":        many(5000, "X-H-%d: v\r\n"),
		"7,800 empty fields":  many(7800, "X:%.0d\r\n"),
		"one 60 KB field":     "X-Big: " + strings.Repeat("b", 60<<10) + "\r\n",
		"101 repeated fields": many(101, "X-Same: %d\r\n"),
	} {
		if resp, _ := exchange(t, h, "GET /?room=a HTTP/1.1\r\nHost: x\r\n"+head+"\r\n"); resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("%s: %s, want 431", name, resp.Status)
		}
	}
	if uris := rec.uris(); len(uris) != 0 {
		t.Fatalf("the member received %v", uris)
	}
	if resp, _ := exchange(t, h, "GET /?room=a HTTP/1.1\r\nHost: x\r\nX_Room: evil\r\nX-Room: good\r\n"+many(90, "X-H-%d: v\r\n")+"\r\n"); resp.StatusCode != 200 {
		t.Fatalf("90 fields: %s", resp.Status)
	}
	got := rec.last(t).Header
	if got.Get("X-Room") != "good" {
		t.Fatalf("the member got X-Room %q", got.Get("X-Room"))
	}
	for name := range got {
		if strings.Contains(name, "_") {
			t.Fatalf("the member got header %q", name)
		}
	}
}

// TestH2CUpgradeRefused: an h2c upgrade offer is not tunnelled to a member; the request is
// proxied as plain HTTP/1.1 without it.
func TestH2CUpgradeRefused(t *testing.T) {
	rec := newRecorder(t, nil)
	h := gatewayFor(t, rec.backend, testOptions(t))
	resp, _ := exchange(t, h, "GET /?room=a HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n")
	if resp.StatusCode != 200 {
		t.Fatalf("h2c upgrade: %s, want 200 without switching", resp.Status)
	}
	got := rec.last(t).Header
	if got["Upgrade"] != nil || got["Http2-Settings"] != nil {
		t.Fatalf("the member got %v", got)
	}
}

// TestPathNormalised: dot segments are resolved before the path prefix is matched, and the
// member gets the resolved path; percent-encoded slashes are refused.
func TestPathNormalised(t *testing.T) {
	chat, admin := newRecorder(t, nil), newRecorder(t, nil)
	h := startGateway(t, testOptions(t))
	h.g.Update([]resolved.Ring{
		newRing("chat", []*backend{chat.backend}, routeTo("/chat")),
		newRing("admin", []*backend{admin.backend}, routeTo("/admin")),
	})
	for _, path := range []string{"/chat/../admin/x", "/chat/%2e%2e/admin/x", "/chat/./../admin/./x"} {
		resp, body := exchange(t, h, "GET "+path+"?room=a HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp.StatusCode != 200 || body != "/admin/x?room=a" {
			t.Errorf("%s: %s %q, want the admin ring's member to get /admin/x", path, resp.Status, body)
		}
	}
	for _, path := range []string{"/chat/..%2Fadmin/x", "/chat/..%5cadmin/x", "/chat/a%2fb"} {
		if resp, _ := exchange(t, h, "GET "+path+"?room=a HTTP/1.1\r\nHost: x\r\n\r\n"); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %s, want 400", path, resp.Status)
		}
	}
	if uris := chat.uris(); len(uris) != 0 {
		t.Fatalf("the chat member received %v", uris)
	}
}

// TestDuplicateRoomKey: a room key given twice is refused, so no member reads the other one.
func TestDuplicateRoomKey(t *testing.T) {
	rec := newRecorder(t, nil)
	h := gatewayFor(t, rec.backend, testOptions(t))
	resp, body := get(t, h.url+"/?room=a&room=b")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "more than once") {
		t.Fatalf("?room=a&room=b: %s %q", resp.Status, body)
	}
	if uris := rec.uris(); len(uris) != 0 {
		t.Fatalf("the member received %v", uris)
	}
}

// TestHalfClosedClientGetsNothing: a client that sends a request and half-closes, whose member
// never answers, gets no fabricated answer: the connection ends without a byte, and the
// request is counted as 499.
func TestHalfClosedClientGetsNothing(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	rec := newRecorder(t, func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	h := gatewayFor(t, rec.backend, testOptions(t))
	c := dialRaw(t, h)
	c.send(t, "GET /?room=a HTTP/1.1\r\nHost: x\r\n\r\n")
	eventually(t, 2*time.Second, "the member to get the request", func() bool { return len(rec.uris()) == 1 })
	if err := c.Conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if got, ended := c.ended(3 * time.Second); !ended || got != "" {
		t.Fatalf("after the client half-closed it read %q (ended %v), want nothing", got, ended)
	}
	_, metrics := get(t, h.admin+"/metrics")
	if !strings.Contains(metrics, `stablering_gateway_requests_total{code="499",member="0",ring="default/fast"} 1`) {
		t.Fatalf("no 499 counted:\n%s", grepLines(metrics, "requests_total"))
	}
}

func grepLines(text, substr string) string {
	var out []string
	for line := range strings.SplitSeq(text, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// TestLocalErrorsDoNotMarkMembers: when the gateway runs out of descriptors, a request gets
// 503 with Retry-After, the failure is counted as the gateway's own, and the member is not
// marked unreachable: under Failover its rooms do not move.
func TestLocalErrorsDoNotMarkMembers(t *testing.T) {
	bs := newBackends(t, 2)
	h := startGateway(t, testOptions(t))
	sr := newRing("fast", bs, func(sr *resolved.Ring) { sr.Spec.Unavailable.Policy = v1alpha1.UnavailableFailover })
	h.g.Update([]resolved.Ring{sr})
	key := keysOwnedBy(t, sr, 1, 1)[0]
	c := dialRaw(t, h)
	c.send(t, "GET / HTTP/1.1\r\nHost: x\r\n\r\n") // answered by the gateway: the connection is accepted
	if resp, _ := c.response(t, http.MethodGet); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("request without a key: %s", resp.Status)
	}
	// An upgrade always dials its member.
	restore := exhaustDescriptors(t)
	c.send(t, "GET /ws?room="+key+" HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	resp, body := c.response(t, http.MethodGet)
	restore()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(body, "EMFILE") {
		t.Fatalf("at the descriptor limit: %s %q", resp.Status, body)
	}
	r, _ := get(t, h.url+"/?room="+key)
	if r.StatusCode != 200 || r.Header.Get("X-StableRing-Member") != "default/fast/1" {
		t.Fatalf("after the limit: %s from %q, want 200 from its owner", r.Status, r.Header.Get("X-StableRing-Member"))
	}
	_, metrics := get(t, h.admin+"/metrics")
	if !strings.Contains(metrics, `stablering_gateway_local_errors_total{errno="EMFILE"} 1`) {
		t.Fatalf("no local error counted:\n%s", grepLines(metrics, "local_errors"))
	}
}

// exhaustDescriptors lowers the process's open-files limit near the descriptors open now and
// opens files until none is left, so the next socket fails with EMFILE; it returns the
// function that gives them back.
func exhaustDescriptors(t testing.TB) func() {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	low := old
	low.Cur = uint64(len(fds) + 8)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	var held []*os.File
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			if !errors.Is(err, syscall.EMFILE) {
				t.Fatal(err)
			}
			break
		}
		held = append(held, f)
	}
	var once sync.Once
	restore := func() {
		once.Do(func() {
			for _, f := range held {
				_ = f.Close()
			}
			_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old)
		})
	}
	t.Cleanup(restore)
	return restore
}

// TestConnectionCap: at MaxConnections a new client waits in the backlog while established
// connections and the admin port keep working; it is served once a connection closes.
func TestConnectionCap(t *testing.T) {
	b := newBackend(t, 0)
	opts := testOptions(t)
	opts.MaxConnections = 2
	h := gatewayFor(t, b, opts)
	first, second := dialRaw(t, h), dialRaw(t, h)
	for _, c := range []*rawClient{first, second} {
		c.send(t, "GET /?room=a HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, _ := c.response(t, http.MethodGet); resp.StatusCode != 200 {
			t.Fatalf("within the cap: %s", resp.Status)
		}
	}
	third := dialRaw(t, h)
	third.send(t, "GET /?room=a HTTP/1.1\r\nHost: x\r\n\r\n")
	if got, _ := third.ended(300 * time.Millisecond); got != "" {
		t.Fatalf("beyond the cap the client was answered: %q", got)
	}
	if resp, _ := get(t, h.admin+"/healthz"); resp.StatusCode != 200 {
		t.Fatalf("healthz at the cap: %s", resp.Status)
	}
	_, metrics := get(t, h.admin+"/metrics")
	for _, want := range []string{"stablering_gateway_client_connections 2", "stablering_gateway_max_client_connections 2"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q:\n%s", want, grepLines(metrics, "client_connections"))
		}
	}
	second.send(t, "GET /?room=a HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := second.response(t, http.MethodGet); resp.StatusCode != 200 {
		t.Fatalf("an established connection at the cap: %s", resp.Status)
	}
	_ = first.Close()
	if resp, _ := third.response(t, http.MethodGet); resp.StatusCode != 200 {
		t.Fatalf("after a connection closed: %s", resp.Status)
	}
}

// TestDrainBoundedForStalledClient: a WebSocket client that stops reading (its receive window
// full) while its member floods it cannot hold a drain open: the member connection is closed
// within drainSeconds and two close graces.
func TestDrainBoundedForStalledClient(t *testing.T) {
	ended := make(chan time.Time, 1)
	flood := &backend{}
	flood.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		msg := make([]byte, 32<<10)
		for c.Write(context.Background(), websocket.MessageBinary, msg) == nil {
		}
		ended <- time.Now()
	}))
	t.Cleanup(flood.srv.Close)
	flood.addr = flood.srv.Listener.Addr().String()
	sr := newRing("chat", []*backend{flood}, func(sr *resolved.Ring) { sr.Spec.Rollout.DrainSeconds = 1 })
	h := startGateway(t, testOptions(t)) // close grace 500 ms
	h.g.Update([]resolved.Ring{sr})

	c := dialRaw(t, h)
	c.send(t, "GET /ws?room=a HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	_ = resp.Body.Close() // a 101 has no body; the connection is the WebSocket
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %s", resp.Status)
	}
	time.Sleep(500 * time.Millisecond) // the client reads nothing more: the buffers fill
	start := time.Now()
	setState(&sr, 0, v1alpha1.MemberDraining)
	h.g.Update([]resolved.Ring{sr})
	select {
	case at := <-ended:
		t.Logf("member connection closed %v after the drain started", at.Sub(start).Round(time.Millisecond))
	case <-time.After(6 * time.Second):
		t.Fatal("the member connection was still open 6 s after a 1 s drain with a 0.5 s close grace")
	}
}

// TestEmptyRingsFileKeepsRings: a rings file that becomes empty, blank or a bare "---" (a
// truncated write) keeps the rings routed; only an explicit empty list routes nothing.
func TestEmptyRingsFileKeepsRings(t *testing.T) {
	bs := newBackends(t, 1)
	h := startGateway(t, testOptions(t))
	path := filepath.Join(t.TempDir(), "rings.yaml")
	writeRings(t, path, newRing("chat", bs))
	startFileSource(t, h, path)
	eventually(t, 5*time.Second, "the ring to route", func() bool { r, _ := get(t, h.url+"/?room=a"); return r.StatusCode == 200 })
	for _, content := range []string{"", "  \n\n", "---\n"} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond) // more than two polls
		if r, _ := get(t, h.url+"/?room=a"); r.StatusCode != 200 {
			t.Fatalf("after the file became %q: %s", content, r.Status)
		}
	}
	if err := os.WriteFile(path, []byte("kind: List\nitems: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "an explicit empty list to route nothing", func() bool {
		r, _ := get(t, h.url+"/?room=a")
		return r.StatusCode == 404
	})
}

// TestOwnAnswersDoNotWaitForTheBody: the gateway's own answers to a request whose declared
// body never comes are sent at once, and the connection is then closed rather than held for
// the rest of the body.
func TestOwnAnswersDoNotWaitForTheBody(t *testing.T) {
	rec := newRecorder(t, nil)
	h := startGateway(t, testOptions(t)) // client body timeout 60 s
	h.g.Update([]resolved.Ring{newRing("chat", []*backend{rec.backend}, routeTo("/chat"))})
	var fields strings.Builder
	for i := range 150 {
		fmt.Fprintf(&fields, "X-H-%d: v\r\n", i)
	}
	for name, c := range map[string]struct {
		head   string
		status int
	}{
		"too many fields": {"POST /chat?room=a HTTP/1.1\r\nHost: x\r\n" + fields.String(), 431},
		"no room key":     {"POST /chat HTTP/1.1\r\nHost: x\r\n", 400},
		"no route":        {"POST /other?room=a HTTP/1.1\r\nHost: x\r\n", 404},
	} {
		rc := dialRaw(t, h)
		start := time.Now()
		rc.send(t, c.head+"Content-Length: 10\r\n\r\n")
		if resp, _ := rc.response(t, http.MethodPost); resp.StatusCode != c.status || time.Since(start) > time.Second {
			t.Errorf("%s: %s after %v, want %d at once", name, resp.Status, time.Since(start), c.status)
		}
		if rest, ended := rc.ended(2 * time.Second); !ended {
			t.Errorf("%s: the connection was held after the answer (read %q)", name, rest)
		}
	}
	if uris := rec.uris(); len(uris) != 0 {
		t.Fatalf("the member received %v", uris)
	}
}

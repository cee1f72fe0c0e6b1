package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/go-logr/logr/testr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/gateway"
	"github.com/stablering/stablering/gateway/resolved"
	"github.com/stablering/stablering/gateway/route"
)

// backend is one ring member: a real HTTP server that says which member it is, streams
// server-sent events on /sse, and accepts WebSockets that greet with "member N" and echo.
type backend struct {
	ordinal int32
	srv     *httptest.Server
	addr    string

	wsActive atomic.Int64
	mu       sync.Mutex
	closes   []websocket.StatusCode // close codes the backend's WebSockets ended with
}

func newBackend(t testing.TB, ordinal int32) *backend {
	b := &backend{ordinal: ordinal}
	b.srv = httptest.NewServer(http.HandlerFunc(b.serve))
	b.addr = b.srv.Listener.Addr().String()
	t.Cleanup(b.srv.Close)
	return b
}

func newBackends(t testing.TB, n int) []*backend {
	bs := make([]*backend, n)
	for i := range bs {
		bs[i] = newBackend(t, int32(i))
	}
	return bs
}

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.EqualFold(r.Header.Get("Upgrade"), "websocket"):
		b.serveWebSocket(w, r)
	case strings.HasSuffix(r.URL.Path, "/sse"):
		b.serveEvents(w, r)
	default:
		w.Header().Set("X-Member", fmt.Sprint(b.ordinal))
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(echoed{Member: b.ordinal, Host: r.Host, URI: r.RequestURI, Header: r.Header})
	}
}

// echoed is what a backend answers to plain requests.
type echoed struct {
	Member int32
	Host   string
	URI    string
	Header http.Header
}

func (b *backend) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	b.wsActive.Add(1)
	defer b.wsActive.Add(-1)
	ctx := context.Background()
	if c.Write(ctx, websocket.MessageText, []byte(fmt.Sprintf("member %d", b.ordinal))) != nil {
		return
	}
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			b.mu.Lock()
			b.closes = append(b.closes, websocket.CloseStatus(err))
			b.mu.Unlock()
			return
		}
		if c.Write(ctx, typ, data) != nil {
			return
		}
	}
}

// closeCodes returns the close codes the backend's WebSockets ended with so far.
func (b *backend) closeCodes() []websocket.StatusCode {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]websocket.StatusCode(nil), b.closes...)
}

// serveEvents streams three events 200ms apart.
func (b *backend) serveEvents(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	for i := range 3 {
		fmt.Fprintf(w, "data: %d\n\n", i)
		w.(http.Flusher).Flush()
		time.Sleep(200 * time.Millisecond)
	}
}

// harness is a gateway serving on loopback listeners.
type harness struct {
	g      *gateway.Gateway
	url    string // http://host:port of the proxy
	host   string // host:port of the proxy
	admin  string // http://host:port of the admin endpoints
	cancel context.CancelFunc
	done   chan struct{} // closed when Serve returned
	err    error         // what Serve returned
}

// testOptions are fast timings for tests.
func testOptions(t testing.TB) gateway.Options {
	return gateway.Options{
		Log:               testr.NewWithInterface(t, testr.Options{Verbosity: 1}),
		MemberHeader:      "X-StableRing-Member",
		CloseGrace:        500 * time.Millisecond,
		ReunionWindow:     time.Second,
		ReconcileInterval: 100 * time.Millisecond,
		ShutdownWindow:    time.Second,
		DialTimeout:       time.Second,
		FailTimeout:       2 * time.Second,
	}
}

func startGateway(t testing.TB, opts gateway.Options) *harness {
	t.Helper()
	proxyLn, err := gateway.Listen(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{
		g:      gateway.New(opts),
		url:    "http://" + proxyLn.Addr().String(),
		host:   proxyLn.Addr().String(),
		admin:  "http://" + adminLn.Addr().String(),
		cancel: cancel,
		done:   make(chan struct{}),
	}
	go func() {
		defer close(h.done)
		h.err = h.g.Serve(ctx, proxyLn, adminLn)
	}()
	t.Cleanup(h.stop)
	return h
}

// stop shuts the gateway down and waits for it.
func (h *harness) stop() {
	h.cancel()
	<-h.done
	if h.err != nil {
		panic(h.err)
	}
}

// newRing is a StableRing routing /-prefixed requests by the "room" query parameter over the
// backends as members 0..n-1, all Serving.
func newRing(name string, bs []*backend, mods ...func(*resolved.Ring)) resolved.Ring {
	sr := resolved.Ring{StableRing: &v1alpha1.StableRing{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "StableRing"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: v1alpha1.StableRingSpec{
			StatefulSetName: name,
			Key:             v1alpha1.KeySpec{Source: v1alpha1.KeySourceQuery, Name: "room"},
			Unavailable:     v1alpha1.UnavailableSpec{Policy: v1alpha1.UnavailableHold, HoldSeconds: 60},
			Rollout:         v1alpha1.RolloutSpec{DrainSeconds: 2},
		},
		Status: v1alpha1.StableRingStatus{RingVersion: "v1"},
	}}
	for _, b := range bs {
		sr.Members = append(sr.Members, v1alpha1.Member{
			Ordinal: b.ordinal, Address: b.addr,
			State: v1alpha1.MemberServing,
		})
	}
	for _, m := range mods {
		m(&sr)
	}
	return sr
}

// setState sets member o's state (since now) and bumps the ring version, as the controller
// does.
func setState(sr *resolved.Ring, o int32, state v1alpha1.MemberState) {
	for i := range sr.Members {
		if sr.Members[i].Ordinal == o {
			sr.Members[i].State = state
			sr.Members[i].LastTransitionTime = &metav1.Time{Time: time.Now()}
		}
	}
	bumpVersion(sr)
}

var versions atomic.Int64

func bumpVersion(sr *resolved.Ring) {
	sr.Status.RingVersion = fmt.Sprintf("v%d", versions.Add(1)+1)
}

// keysOwnedBy returns n room keys whose owner on sr is ordinal o.
func keysOwnedBy(t testing.TB, sr resolved.Ring, o int32, n int) []string {
	t.Helper()
	r := route.Build([]resolved.Ring{sr}, nil, time.Now()).Ring(sr.Namespace + "/" + sr.Name)
	var keys []string
	for i := 0; len(keys) < n && i < 100000; i++ {
		k := fmt.Sprintf("room-%d", i)
		if m := r.Owner(k); m != nil && m.Ordinal == o {
			keys = append(keys, k)
		}
	}
	if len(keys) < n {
		t.Fatalf("only %d keys owned by %d", len(keys), o)
	}
	return keys
}

// reply is what tests look at in a response; its body has been read and closed.
type reply struct {
	StatusCode int
	Status     string
	Header     http.Header
}

func replyOf(resp *http.Response) *reply {
	if resp == nil {
		return nil
	}
	if resp.Body != nil {
		_ = resp.Body.Close()
	}
	return &reply{StatusCode: resp.StatusCode, Status: resp.Status, Header: resp.Header}
}

// get sends a GET through the gateway and returns the reply and its body.
func get(t testing.TB, url string, header ...string) (*reply, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return replyOf(resp), string(body)
}

// wsClient is a WebSocket through the gateway with a goroutine reading it.
type wsClient struct {
	conn     *websocket.Conn
	greeting string // the backend's "member N"
	msgs     chan string
	closed   chan struct{} // closed when reading ended
	closedAt time.Time
	code     websocket.StatusCode // close code received, -1 for none
}

// dialWS opens a WebSocket through the gateway for room key; the reply is the handshake's
// answer (nil when there was none).
func dialWS(ctx context.Context, h *harness, key string) (*wsClient, *reply, error) {
	c, resp, err := websocket.Dial(ctx, "ws://"+h.host+"/ws?room="+key, nil)
	if err != nil {
		return nil, replyOf(resp), err
	}
	_, greeting, err := c.Read(ctx)
	if err != nil {
		return nil, replyOf(resp), err
	}
	w := &wsClient{conn: c, greeting: string(greeting), msgs: make(chan string, 16), closed: make(chan struct{})}
	go w.read()
	return w, replyOf(resp), nil
}

func mustDialWS(t testing.TB, h *harness, key string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	w, resp, err := dialWS(ctx, h, key)
	if err != nil {
		t.Fatalf("dial %s: %v (response %v)", key, err, status(resp))
	}
	t.Cleanup(func() { _ = w.conn.CloseNow() })
	return w
}

func status(resp *reply) string {
	if resp == nil {
		return "none"
	}
	return resp.Status
}

func (w *wsClient) read() {
	defer close(w.closed)
	for {
		_, data, err := w.conn.Read(context.Background())
		if err != nil {
			w.closedAt = time.Now()
			w.code = websocket.CloseStatus(err)
			return
		}
		w.msgs <- string(data)
	}
}

// echo sends a message and waits for the backend's echo.
func (w *wsClient) echo(msg string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := w.conn.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		return err
	}
	return w.expect(ctx, msg)
}

// expect waits, within ctx, for the next message and checks that it is want.
func (w *wsClient) expect(ctx context.Context, want string) error {
	select {
	case got := <-w.msgs:
		if got != want {
			return fmt.Errorf("got %q, want %q", got, want)
		}
		return nil
	case <-w.closed:
		return errors.New("closed")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// isClosed reports whether the client's WebSocket has ended.
func (w *wsClient) isClosed() bool {
	select {
	case <-w.closed:
		return true
	default:
		return false
	}
}

// waitClosed waits up to d for the WebSocket to end.
func (w *wsClient) waitClosed(d time.Duration) bool {
	select {
	case <-w.closed:
		return true
	case <-time.After(d):
		return false
	}
}

// eventually retries cond until it holds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

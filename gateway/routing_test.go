package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/balancer"
	"github.com/stablering/stablering/gateway"
	"github.com/stablering/stablering/gateway/resolved"
	"github.com/stablering/stablering/gateway/source"
)

// writeRings writes rings, each with its members in one MemberSlice that its status names, as
// a multi-document YAML file, replacing it atomically (as editors and ConfigMap volumes do).
func writeRings(t testing.TB, path string, rings ...resolved.Ring) {
	t.Helper()
	var docs []string
	for _, r := range rings {
		sr := r.DeepCopy()
		slice := &v1alpha1.MemberSlice{
			TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "MemberSlice"},
			ObjectMeta: metav1.ObjectMeta{Namespace: sr.Namespace, Name: v1alpha1.MemberSliceName(sr.Name, 0)},
			Ring:       sr.Name, Version: sr.Status.RingVersion, Members: r.Members,
		}
		sr.Status.MemberSlices = []v1alpha1.MemberSliceRef{{Name: slice.Name, Version: slice.Version}}
		for _, obj := range []any{sr, slice} {
			data, err := yaml.Marshal(obj)
			if err != nil {
				t.Fatal(err)
			}
			docs = append(docs, string(data))
		}
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(docs, "---\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// startFileSource runs a rings-file source feeding h's gateway.
func startFileSource(t testing.TB, h *harness, path string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		src := &source.File{Path: path, Log: testOptions(t).Log, Poll: 200 * time.Millisecond, Settle: 10 * time.Millisecond}
		if err := src.Run(ctx, h.g.Update); err != nil {
			t.Error(err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// ringVersion asks the admin port which version of ring id the gateway routes by.
func ringVersion(t testing.TB, h *harness, id string) string {
	t.Helper()
	_, body := get(t, h.admin+"/debug/rings")
	var out struct{ Rings []gateway.RingView }
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	for _, r := range out.Rings {
		if r.Ring == id {
			return r.Version
		}
	}
	return ""
}

// TestRoutingPerKeySource routes by every key source through a rings file and checks each
// request reaches the balancer's owner of its key.
func TestRoutingPerKeySource(t *testing.T) {
	bs := newBackends(t, 5)
	seg := int32(1)
	rings := []resolved.Ring{
		newRing("query", bs, routeTo("/q")),
		newRing("header", bs, routeTo("/h"), keyFrom(v1alpha1.KeySpec{Source: v1alpha1.KeySourceHeader, Name: "X-Room"})),
		newRing("cookie", bs, routeTo("/c"), keyFrom(v1alpha1.KeySpec{Source: v1alpha1.KeySourceCookie, Name: "room"})),
		newRing("path", bs, routeTo("/rooms"), keyFrom(v1alpha1.KeySpec{Source: v1alpha1.KeySourcePath, PathSegment: &seg})),
		newRing("maglev", bs, routeTo("/m"), func(sr *resolved.Ring) {
			sr.Status.Hash = &v1alpha1.HashSpec{Algorithm: v1alpha1.AlgorithmMaglev}
		}),
	}
	h := startGateway(t, testOptions(t))
	path := filepath.Join(t.TempDir(), "rings.yaml")
	writeRings(t, path, rings...)
	startFileSource(t, h, path)
	eventually(t, 5*time.Second, "ready", h.g.Ready)

	jump, _ := balancer.New(balancer.Config{Algorithm: balancer.Jump, Members: []int32{0, 1, 2, 3, 4}})
	maglev, _ := balancer.New(balancer.Config{Algorithm: balancer.Maglev, Members: []int32{0, 1, 2, 3, 4}})
	for i := range 40 {
		key := fmt.Sprintf("room-%d", i)
		want, _ := jump.Owner(key)
		wantMaglev, _ := maglev.Owner(key)
		checks := []struct {
			name   string
			url    string
			header []string
			want   int32
		}{
			{"query", h.url + "/q/ws?room=" + key, nil, want},
			{"header", h.url + "/h", []string{"X-Room", key}, want},
			{"cookie", h.url + "/c", []string{"Cookie", "theme=dark; room=" + key}, want},
			{"path", h.url + "/rooms/" + key + "/ws", nil, want},
			{"maglev", h.url + "/m?room=" + key, nil, wantMaglev},
		}
		for _, c := range checks {
			resp, body := get(t, c.url, c.header...)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Member") != fmt.Sprint(c.want) {
				t.Fatalf("%s %s: %s member %s, want %d: %s", c.name, key, resp.Status, resp.Header.Get("X-Member"), c.want, body)
			}
			if got := resp.Header.Get("X-StableRing-Member"); got != fmt.Sprintf("default/%s/%d", c.name, c.want) {
				t.Fatalf("member header %q", got)
			}
		}
	}
}

func routeTo(prefix string, hosts ...string) func(*resolved.Ring) {
	return func(sr *resolved.Ring) { sr.Spec.Route = v1alpha1.RouteSpec{PathPrefix: prefix, Hosts: hosts} }
}

func keyFrom(k v1alpha1.KeySpec) func(*resolved.Ring) {
	return func(sr *resolved.Ring) { sr.Spec.Key = k }
}

// TestBadRequests checks the precise answers to requests the gateway cannot route.
func TestBadRequests(t *testing.T) {
	bs := newBackends(t, 2)
	h := startGateway(t, testOptions(t))
	h.g.Update([]resolved.Ring{
		newRing("chat", bs, routeTo("/chat", "chat.example.com")),
		newRing("empty", nil, routeTo("/empty")),
	})
	cases := []struct {
		name, host, path string
		status           int
		body             string
	}{
		{"no route", "other.example.com", "/chat?room=a", 404, `stablering: no StableRing routes host "other.example.com" and path "/chat"` + "\n"},
		{"missing key", "chat.example.com", "/chat/ws", 400, `stablering: ring default/chat needs a room key in query parameter "room"` + "\n"},
		{"bad escape", "chat.example.com", "/chat/ws?room=%zz", 400, `stablering: ring default/chat cannot decode the room key in query parameter "room"` + "\n"},
		{"no members", "x", "/empty?room=a", 503, "stablering: ring default/empty has no members yet; retry after "},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(http.MethodGet, h.url+c.path, nil)
		req.Host = c.host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != c.status || !strings.HasPrefix(body, c.body) {
			t.Errorf("%s: %d %q, want %d %q", c.name, resp.StatusCode, body, c.status, c.body)
		}
		if resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("%s: content type %q", c.name, resp.Header.Get("Content-Type"))
		}
	}
	// Headers beyond MaxHeaderBytes (32 KiB by default) are refused by the server.
	if resp, _ := get(t, h.url+"/chat?room=a", "X-Big", strings.Repeat("x", 80<<10)); resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("an 80 KiB header: %s", resp.Status)
	}
}

// TestForwardedAndHopByHop checks what the member receives.
func TestForwardedAndHopByHop(t *testing.T) {
	bs := newBackends(t, 1)
	for _, trust := range []bool{false, true} {
		opts := testOptions(t)
		opts.TrustForwarded = trust
		h := startGateway(t, opts)
		h.g.Update([]resolved.Ring{newRing("chat", bs)})
		resp, body := get(t, h.url+"/a/b?room=x&z=1",
			"Connection", "X-Secret, keep-alive", "X-Secret", "hop", "Keep-Alive", "timeout=5",
			"Proxy-Authorization", "Basic x", "X-Forwarded-For", "203.0.113.7", "X-Forwarded-Proto", "https",
			"X-Kept", "end-to-end")
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %s", resp.Status, body)
		}
		var got echoed
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatal(err)
		}
		for _, hop := range []string{"X-Secret", "Keep-Alive", "Proxy-Authorization"} {
			if v := got.Header.Get(hop); v != "" {
				t.Errorf("hop-by-hop %s reached the member: %q", hop, v)
			}
		}
		wantXFF, wantProto := "127.0.0.1", "http"
		if trust {
			wantXFF, wantProto = "203.0.113.7, 127.0.0.1", "https"
		}
		if got.Header.Get("X-Kept") != "end-to-end" || got.Header.Get("X-Forwarded-For") != wantXFF ||
			got.Header.Get("X-Forwarded-Proto") != wantProto || got.Header.Get("X-Forwarded-Host") != h.host ||
			got.Host != h.host || got.URI != "/a/b?room=x&z=1" {
			t.Errorf("trust=%v: member got %+v", trust, got)
		}
	}
}

// TestServerSentEvents checks that a streamed response reaches the client as it is written.
func TestServerSentEvents(t *testing.T) {
	bs := newBackends(t, 1)
	h := startGateway(t, testOptions(t))
	h.g.Update([]resolved.Ring{newRing("chat", bs)})
	start := time.Now()
	resp, err := http.Get(h.url + "/sse?room=a")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	buf := make([]byte, 64)
	n, err := resp.Body.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "data: 0") {
		t.Fatalf("first event: %q %v", buf[:n], err)
	}
	if first := time.Since(start); first > 300*time.Millisecond {
		t.Fatalf("the first event took %v: the stream was buffered", first)
	}
	rest := readAll(t, resp.Body)
	if !strings.Contains(rest, "data: 2") {
		t.Fatalf("rest of stream %q", rest)
	}
}

// TestH2C proxies HTTP/2 requests without TLS.
func TestH2C(t *testing.T) {
	bs := newBackends(t, 2)
	opts := testOptions(t)
	opts.H2C = true
	h := startGateway(t, opts)
	h.g.Update([]resolved.Ring{newRing("chat", bs)})
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &protocols}}
	resp, err := client.Get(h.url + "/x?room=a")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body := readAll(t, resp.Body)
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || resp.Header.Get("X-Member") == "" {
		t.Fatalf("%s %s: %s", resp.Proto, resp.Status, body)
	}
}

// TestAdmin checks readiness, the debug endpoints and the metrics.
func TestAdmin(t *testing.T) {
	bs := newBackends(t, 3)
	h := startGateway(t, testOptions(t))
	if resp, _ := get(t, h.admin+"/readyz"); resp.StatusCode != 503 {
		t.Fatalf("ready before the first snapshot: %s", resp.Status)
	}
	if resp, _ := get(t, h.admin+"/healthz"); resp.StatusCode != 200 {
		t.Fatalf("healthz %s", resp.Status)
	}
	sr := newRing("chat", bs)
	setState(&sr, 2, v1alpha1.MemberRestarting)
	h.g.Update([]resolved.Ring{sr})
	if resp, _ := get(t, h.admin+"/readyz"); resp.StatusCode != 200 {
		t.Fatalf("readyz %s", resp.Status)
	}
	if v := ringVersion(t, h, "default/chat"); v != sr.Status.RingVersion {
		t.Fatalf("/debug/rings version %q, want %q", v, sr.Status.RingVersion)
	}
	key := keysOwnedBy(t, sr, 2, 1)[0]
	_, body := get(t, h.admin+"/debug/lookup?ring=default/chat&key="+key)
	var lookup gateway.LookupView
	if err := json.Unmarshal([]byte(body), &lookup); err != nil {
		t.Fatal(err)
	}
	if lookup.Owner == nil || lookup.Owner.Ordinal != 2 || lookup.Owner.State != "Restarting" ||
		lookup.Action != "hold" || lookup.Status != 503 || !strings.Contains(lookup.Message, "is restarting") {
		t.Fatalf("lookup %s", body)
	}
	if resp, _ := get(t, h.admin+"/debug/lookup?ring=default/nope&key=a"); resp.StatusCode != 404 {
		t.Fatalf("unknown ring: %s", resp.Status)
	}
	if resp, _ := get(t, h.admin+"/debug/lookup?ring=default/chat"); resp.StatusCode != 400 {
		t.Fatalf("missing key: %s", resp.Status)
	}
	get(t, h.url+"/x?room="+key)
	get(t, h.url+"/x?room="+keysOwnedBy(t, sr, 0, 1)[0])
	get(t, h.url+"/x")
	// A request is counted once its answer is out, so the client may see the answer first.
	awaitMetrics(t, h,
		fmt.Sprintf(`stablering_gateway_ring_info{algorithm="Jump",ring="default/chat",version=%q} 1`, sr.Status.RingVersion),
		`stablering_gateway_requests_total{code="200",member="0",ring="default/chat"} 1`,
		`stablering_gateway_requests_total{code="503",member="2",ring="default/chat"} 1`,
		`stablering_gateway_requests_total{code="400",member="",ring="default/chat"} 1`,
		`stablering_gateway_held_total{member="2",reason="restarting",ring="default/chat"} 1`,
		`stablering_gateway_ring_members{ring="default/chat",state="Restarting"} 1`,
		`stablering_gateway_routing_seconds_count 3`,
		`stablering_gateway_ready 1`,
	)
}

func readAll(t testing.TB, body io.Reader) string {
	t.Helper()
	data, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestAdminPprof checks that the runtime's profiles are served on the admin port only when
// asked for.
func TestAdminPprof(t *testing.T) {
	off := startGateway(t, testOptions(t))
	if resp, _ := get(t, off.admin+"/debug/pprof/"); resp.StatusCode != 404 {
		t.Fatalf("pprof without Options.Pprof: %s", resp.Status)
	}
	opts := testOptions(t)
	opts.Pprof = true
	on := startGateway(t, opts)
	resp, body := get(t, on.admin+"/debug/pprof/goroutine?debug=1")
	if resp.StatusCode != 200 || !strings.Contains(body, "goroutine profile:") {
		t.Fatalf("goroutine profile: %s %.200s", resp.Status, body)
	}
	resp, body = get(t, on.admin+"/debug/pprof/profile?seconds=1")
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "\x1f\x8b") { // gzipped profile.proto
		t.Fatalf("CPU profile: %s %q, %d bytes", resp.Status, resp.Header.Get("Content-Type"), len(body))
	}
}

package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/gateway/resolved"
)

// TestRingSwapKeepsConnections swaps ring versions through the rings file while WebSockets are
// open: address changes of other members, a Pending member, and a scale-up that moves some
// rooms. Only the connections whose room moved are closed (1012, paced); all others keep
// echoing.
func TestRingSwapKeepsConnections(t *testing.T) {
	bs := newBackends(t, 5)
	sr := newRing("chat", bs[:4])
	h := startGateway(t, testOptions(t))
	path := filepath.Join(t.TempDir(), "rings.yaml")
	writeRings(t, path, sr)
	startFileSource(t, h, path)
	eventually(t, 5*time.Second, "ready", h.g.Ready)

	var clients []*wsClient
	var keys []string
	for i := range 40 {
		key := fmt.Sprintf("room-%d", i)
		keys = append(keys, key)
		clients = append(clients, mustDialWS(t, h, key))
	}
	swap := func(what string, mutate func()) {
		mutate()
		bumpVersion(&sr)
		writeRings(t, path, sr)
		eventually(t, 5*time.Second, what, func() bool { return ringVersion(t, h, "default/chat") == sr.Status.RingVersion })
	}
	// An address change (member 3 moved to the spare backend's port) and a Pending member.
	swap("address change", func() {
		sr.Members[3].Address = bs[4].addr
		sr.Members = append(sr.Members, v1alpha1.Member{Ordinal: 4, State: v1alpha1.MemberPending})
	})
	for i, c := range clients {
		if err := c.echo("after swap"); err != nil {
			t.Fatalf("%s: %v after an address change and a Pending member", keys[i], err)
		}
	}
	// Scale-up: member 4 joins; Jump moves about a fifth of the rooms to it.
	swap("scale-up", func() {
		sr.Members[3].Address = bs[3].addr
		sr.Members[4].State, sr.Members[4].Address = v1alpha1.MemberServing, bs[4].addr
	})
	moved := map[string]bool{}
	for _, k := range keysOwnedBy(t, sr, 4, 40) {
		moved[k] = true
	}
	time.Sleep(1500 * time.Millisecond) // the reunion window is 1s
	movedCount := 0
	for i, c := range clients {
		switch {
		case moved[keys[i]]:
			movedCount++
			if !c.isClosed() || c.code != websocket.StatusServiceRestart {
				t.Errorf("%s moved to member 4 but its connection was not closed with 1012 (closed=%v code=%v)", keys[i], c.isClosed(), c.code)
			}
		default:
			if err := c.echo("still here"); err != nil {
				t.Errorf("%s did not move but its connection broke: %v", keys[i], err)
			}
		}
	}
	if movedCount == 0 {
		t.Fatal("no room moved on scale-up; the test proves nothing")
	}
	t.Logf("scale-up 4->5 moved %d of %d rooms; every other connection survived", movedCount, len(keys))
	for k := range moved {
		if c := mustDialWS(t, h, k); c.greeting != "member 4" {
			t.Fatalf("%s reconnected to %s, want member 4", k, c.greeting)
		}
	}
}

// TestDrainPacing opens 10 WebSockets on a member, marks it Draining for 2s, and checks what the
// clients and the member see end to end: every connection closed with 1012 within the window,
// spread over it rather than at once, and the member's clean closes. The schedule itself (one
// close every 200ms, at the midpoints of equal slots) is checked exactly on a fake clock by
// splice's TestDrainPacedOnTheClock; here the wall clock of a loaded machine only bounds it.
func TestDrainPacing(t *testing.T) {
	bs := newBackends(t, 3)
	sr := newRing("chat", bs)
	h := startGateway(t, testOptions(t))
	h.g.Update([]resolved.Ring{sr})
	keys := keysOwnedBy(t, sr, 1, 11)
	var clients []*wsClient
	for _, k := range keys[:10] {
		clients = append(clients, mustDialWS(t, h, k))
	}
	other := mustDialWS(t, h, keysOwnedBy(t, sr, 0, 1)[0])

	start := time.Now()
	setState(&sr, 1, v1alpha1.MemberDraining) // drainSeconds: 2
	h.g.Update([]resolved.Ring{sr})

	// New connections for the draining member's rooms are held.
	resp, body := get(t, h.url+"/ws?room="+keys[10])
	if resp.StatusCode != 503 || !strings.Contains(body, "member 1 is draining (planned restart)") {
		t.Fatalf("new request during drain: %s %q", resp.Status, body)
	}
	var offsets []time.Duration
	for i, c := range clients {
		if !c.waitClosed(3 * time.Second) {
			t.Fatalf("connection %d not closed within the drain window", i)
		}
		if c.code != websocket.StatusServiceRestart {
			t.Fatalf("connection %d closed with %v, want 1012", i, c.code)
		}
		offsets = append(offsets, c.closedAt.Sub(start))
	}
	slices.Sort(offsets)
	gaps := make([]time.Duration, 0, len(offsets)-1)
	for i := 1; i < len(offsets); i++ {
		gaps = append(gaps, offsets[i]-offsets[i-1])
	}
	t.Logf("10 closes over a 2s drain at %v (gaps %v)", roundAll(offsets), roundAll(gaps))
	// Scheduled from 100ms to 1.9s: a close comes no earlier than its slot, and a busy machine
	// delays each by about as much, so the spread stays well over a second.
	if offsets[0] < 50*time.Millisecond {
		t.Errorf("first close at %v, before its slot at 100ms", offsets[0])
	}
	if spread := offsets[len(offsets)-1] - offsets[0]; spread < time.Second {
		t.Errorf("closes spread over %v, want them paced over the 2s window (1.8s between the first and last slot)", spread)
	}
	if err := other.echo("unaffected"); err != nil {
		t.Fatalf("a connection to a Serving member broke: %v", err)
	}
	// The clients' Close frames reached the member, so it saw a clean 1012 close.
	eventually(t, 2*time.Second, "member 1 sees the closes", func() bool { return len(bs[1].closeCodes()) == 10 })
	for _, code := range bs[1].closeCodes() {
		if code != websocket.StatusServiceRestart {
			t.Fatalf("member saw close %v", code)
		}
	}
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

// TestHoldAnswers checks the 503 answers of held rooms for plain requests and handshakes.
func TestHoldAnswers(t *testing.T) {
	bs := newBackends(t, 4)
	sr := newRing("chat", bs)
	setState(&sr, 1, v1alpha1.MemberRestarting)
	setState(&sr, 2, v1alpha1.MemberDown) // holdSeconds 60
	h := startGateway(t, testOptions(t))
	h.g.Update([]resolved.Ring{sr})
	cases := []struct {
		member    int32
		body      string
		maxRetry  int
		reasonTag string
	}{
		{1, "stablering: ring default/chat member 1 is restarting (planned); retry after ", 4, "restarting"},
		{2, "stablering: ring default/chat member 2 is down (rooms held up to 1m0s, then failed over); retry after ", 30, "down"},
	}
	for _, c := range cases {
		seen := map[string]bool{}
		for _, key := range keysOwnedBy(t, sr, c.member, 20) {
			resp, body := get(t, h.url+"/ws?room="+key)
			retry, err := strconv.Atoi(resp.Header.Get("Retry-After"))
			if resp.StatusCode != 503 || err != nil || retry < 1 || retry > c.maxRetry ||
				body != c.body+resp.Header.Get("Retry-After")+"s\n" ||
				resp.Header.Get("X-StableRing-Member") != fmt.Sprintf("default/chat/%d", c.member) {
				t.Fatalf("%s: %s Retry-After %q body %q", key, resp.Status, resp.Header.Get("Retry-After"), body)
			}
			seen[resp.Header.Get("Retry-After")] = true
		}
		if len(seen) < 2 {
			t.Errorf("member %d: Retry-After is not jittered: %v", c.member, seen)
		}
		// A WebSocket handshake gets the same answer.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, resp, err := dialWS(ctx, h, keysOwnedBy(t, sr, c.member, 1)[0])
		cancel()
		if err == nil || resp == nil || resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("handshake for a held room: %v %s", err, status(resp))
		}
	}
	if bs[1].wsActive.Load()+bs[2].wsActive.Load() != 0 {
		t.Fatal("a held room reached its member")
	}
}

// TestFailoverAndReunion fails a Down member's rooms over, then reunites them on the owner
// once it serves again: connections placed elsewhere are closed (1012) and come back to it.
func TestFailoverAndReunion(t *testing.T) {
	for _, policy := range []v1alpha1.UnavailablePolicy{v1alpha1.UnavailableFailover, v1alpha1.UnavailableHold} {
		t.Run(string(policy), func(t *testing.T) {
			bs := newBackends(t, 4)
			sr := newRing("chat", bs, func(sr *resolved.Ring) {
				sr.Spec.Unavailable = v1alpha1.UnavailableSpec{Policy: policy, HoldSeconds: 1}
			})
			h := startGateway(t, testOptions(t))
			h.g.Update([]resolved.Ring{sr})
			keys := keysOwnedBy(t, sr, 2, 8)
			bystander := mustDialWS(t, h, keysOwnedBy(t, sr, 0, 1)[0])

			setState(&sr, 2, v1alpha1.MemberDown)
			h.g.Update([]resolved.Ring{sr})
			if policy == v1alpha1.UnavailableHold {
				if resp, _ := get(t, h.url+"/?room="+keys[0]); resp.StatusCode != 503 {
					t.Fatalf("within holdSeconds: %s", resp.Status)
				}
				time.Sleep(1100 * time.Millisecond) // holdSeconds: 1
			}
			var placed []*wsClient
			for _, k := range keys {
				c := mustDialWS(t, h, k)
				if c.greeting == "member 2" {
					t.Fatalf("%s went to the Down member", k)
				}
				again := mustDialWS(t, h, k) // failover is deterministic
				if again.greeting != c.greeting {
					t.Fatalf("%s failed over to %s, then %s", k, c.greeting, again.greeting)
				}
				placed = append(placed, c, again)
			}

			setState(&sr, 2, v1alpha1.MemberServing)
			h.g.Update([]resolved.Ring{sr})
			for i, c := range placed {
				if !c.waitClosed(2*time.Second) || c.code != websocket.StatusServiceRestart {
					t.Fatalf("failed-over connection %d not reunited: closed=%v code=%v", i, c.isClosed(), c.code)
				}
			}
			for _, k := range keys {
				if c := mustDialWS(t, h, k); c.greeting != "member 2" {
					t.Fatalf("%s reconnected to %s, want its owner", k, c.greeting)
				}
			}
			if err := bystander.echo("untouched"); err != nil {
				t.Fatalf("a room on a healthy member was touched: %v", err)
			}
		})
	}
}

// TestAdmissionLimit sends a burst of 20 handshakes to one member limited to 5 per second:
// 5 are admitted, 15 get 503 with a Retry-After, and a second later more are admitted.
func TestAdmissionLimit(t *testing.T) {
	bs := newBackends(t, 2)
	sr := newRing("chat", bs, func(sr *resolved.Ring) { sr.Spec.Rollout.MaxConnectsPerSecond = 5 })
	h := startGateway(t, testOptions(t))
	h.g.Update([]resolved.Ring{sr})
	keys := keysOwnedBy(t, sr, 1, 20)
	admitted, refused := 0, 0
	for _, k := range keys {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, resp, err := dialWS(ctx, h, k)
		cancel()
		switch {
		case err == nil:
			admitted++
			_ = c.conn.CloseNow()
		case resp != nil && resp.StatusCode == 503 && resp.Header.Get("Retry-After") != "":
			refused++
		default:
			t.Fatalf("%s: %v %s", k, err, status(resp))
		}
	}
	if admitted != 5 || refused != 15 {
		t.Fatalf("admitted %d, refused %d; want 5 and 15", admitted, refused)
	}
	// Plain requests are not limited.
	if resp, _ := get(t, h.url+"/?room="+keys[0]); resp.StatusCode != 200 {
		t.Fatalf("plain request: %s", resp.Status)
	}
	time.Sleep(time.Second)
	mustDialWS(t, h, keys[0])
	_, metrics := get(t, h.admin+"/metrics")
	if !strings.Contains(metrics, `stablering_gateway_rate_limited_total{member="1",ring="default/chat"} 15`) {
		t.Error("rate-limited upgrades are not counted")
	}
}

// TestPassiveHealth kills a member's backend: its rooms get 503 (never a silent move), the
// member is marked unreachable, and under the Failover policy the next request fails over.
func TestPassiveHealth(t *testing.T) {
	for _, policy := range []v1alpha1.UnavailablePolicy{v1alpha1.UnavailableHold, v1alpha1.UnavailableFailover} {
		t.Run(string(policy), func(t *testing.T) {
			bs := newBackends(t, 3)
			sr := newRing("chat", bs, func(sr *resolved.Ring) { sr.Spec.Unavailable.Policy = policy })
			h := startGateway(t, testOptions(t))
			h.g.Update([]resolved.Ring{sr})
			keys := keysOwnedBy(t, sr, 1, 3)
			bs[1].srv.Close()

			resp, body := get(t, h.url+"/?room="+keys[0])
			if resp.StatusCode != 503 || !strings.Contains(body, "member 1 is unreachable (connection failed)") {
				t.Fatalf("request to a dead member: %s %q", resp.Status, body)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			c, resp, err := dialWS(ctx, h, keys[1])
			switch policy {
			case v1alpha1.UnavailableHold:
				if err == nil || resp == nil || resp.StatusCode != 503 {
					t.Fatalf("handshake while marked: %v %s", err, status(resp))
				}
			case v1alpha1.UnavailableFailover:
				if err != nil || c.greeting == "member 1" {
					t.Fatalf("handshake while marked should fail over: %v %s", err, status(resp))
				}
				_ = c.conn.CloseNow()
			}
			_, rings := get(t, h.admin+"/debug/rings")
			if !strings.Contains(rings, `"unreachableUntil"`) {
				t.Errorf("/debug/rings does not show the mark: %s", rings)
			}
		})
	}
}

// TestUpgradeRefused relays a member's refusal of a WebSocket handshake.
func TestUpgradeRefused(t *testing.T) {
	refuser := newBackend(t, 0)
	refuser.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Why", "no")
		http.Error(w, "forbidden room", http.StatusForbidden)
	})
	h := startGateway(t, testOptions(t))
	h.g.Update([]resolved.Ring{newRing("chat", []*backend{refuser})})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, resp, err := dialWS(ctx, h, "a")
	if err == nil || resp == nil || resp.StatusCode != 403 || resp.Header.Get("X-Why") != "no" {
		t.Fatalf("refused handshake: %v %s", err, status(resp))
	}
}

// TestGracefulShutdown cancels the gateway while WebSockets and a slow request are open: it
// stops being ready, lets the request finish, and closes the WebSockets with 1001 spread over
// the shutdown window.
func TestGracefulShutdown(t *testing.T) {
	bs := newBackends(t, 2)
	opts := testOptions(t)
	opts.ShutdownDelay = 300 * time.Millisecond
	h := startGateway(t, opts)
	h.g.Update([]resolved.Ring{newRing("chat", bs)})
	var clients []*wsClient
	for i := range 10 {
		clients = append(clients, mustDialWS(t, h, fmt.Sprintf("room-%d", i)))
	}
	slow := make(chan string, 1)
	go func() {
		resp, err := http.Get(h.url + "/sse?room=a") // streams for 600ms
		if err != nil {
			slow <- err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		slow <- string(body)
	}()
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	h.cancel()
	eventually(t, time.Second, "not ready", func() bool {
		resp, err := http.Get(h.admin + "/readyz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == 503
	})
	var offsets []time.Duration
	for i, c := range clients {
		if !c.waitClosed(3*time.Second) || c.code != websocket.StatusGoingAway {
			t.Fatalf("websocket %d: closed=%v code %v, want 1001", i, c.isClosed(), c.code)
		}
		offsets = append(offsets, c.closedAt.Sub(start))
	}
	slices.Sort(offsets)
	t.Logf("shutdown closes at %v (delay 300ms, window 1s)", roundAll(offsets))
	if offsets[0] < 300*time.Millisecond || offsets[len(offsets)-1]-offsets[0] < 700*time.Millisecond {
		t.Errorf("closes not spread over the window after the delay: %v", offsets)
	}
	if got := <-slow; !strings.Contains(got, "data: 2") {
		t.Fatalf("the in-flight request did not finish: %q", got)
	}
	<-h.done
	if resp, err := http.Get(h.url + "/?room=a"); err == nil {
		_ = resp.Body.Close()
		t.Fatal("the gateway still accepts after shutdown")
	}
}

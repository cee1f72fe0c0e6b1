package route

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/gateway/resolved"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// newRingSpec is a ring over members 0..n-1, all Serving, with the room in query "room".
func newRingSpec(name string, n int, mods ...func(*resolved.Ring)) resolved.Ring {
	sr := resolved.Ring{StableRing: &v1alpha1.StableRing{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: v1alpha1.StableRingSpec{
			StatefulSetName: name,
			Key:             v1alpha1.KeySpec{Source: v1alpha1.KeySourceQuery, Name: "room"},
			Unavailable:     v1alpha1.UnavailableSpec{Policy: v1alpha1.UnavailableHold, HoldSeconds: 60},
			Rollout:         v1alpha1.RolloutSpec{DrainSeconds: 10},
		},
		Status: v1alpha1.StableRingStatus{RingVersion: "v1"},
	}}
	for i := range n {
		sr.Members = append(sr.Members, v1alpha1.Member{
			Ordinal: int32(i), State: v1alpha1.MemberServing,
			Address: fmt.Sprintf("10.0.0.%d:8080", i+1),
		})
	}
	for _, m := range mods {
		m(&sr)
	}
	return sr
}

func withRoute(prefix string, hosts ...string) func(*resolved.Ring) {
	return func(sr *resolved.Ring) { sr.Spec.Route = v1alpha1.RouteSpec{PathPrefix: prefix, Hosts: hosts} }
}

func withKey(k v1alpha1.KeySpec) func(*resolved.Ring) {
	return func(sr *resolved.Ring) { sr.Spec.Key = k }
}

func withMember(o int32, state v1alpha1.MemberState, since time.Time) func(*resolved.Ring) {
	return func(sr *resolved.Ring) {
		for i := range sr.Members {
			if sr.Members[i].Ordinal == o {
				sr.Members[i].State = state
				sr.Members[i].LastTransitionTime = &metav1.Time{Time: since}
			}
		}
	}
}

func withPolicy(p v1alpha1.UnavailablePolicy) func(*resolved.Ring) {
	return func(sr *resolved.Ring) { sr.Spec.Unavailable.Policy = p }
}

func request(host, target string, header ...string) Request {
	u, err := url.ParseRequestURI(target)
	if err != nil {
		panic(err)
	}
	r := &http.Request{Method: http.MethodGet, Host: host, URL: u, Header: http.Header{}}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	return HTTPRequest{r}
}

func TestMatch(t *testing.T) {
	table := Build([]resolved.Ring{
		newRingSpec("any-root", 1),
		newRingSpec("any-chat", 1, withRoute("/chat/")),
		newRingSpec("exact", 1, withRoute("/", "chat.example.com")),
		newRingSpec("exact-api", 1, withRoute("/api", "chat.example.com")),
		newRingSpec("wild", 1, withRoute("/", "*.example.com")),
		newRingSpec("wild-long", 1, withRoute("/chat/rooms", "*.example.com")),
		newRingSpec("upper", 1, withRoute("/", "Mixed.Example.ORG")),
	}, nil, now)
	cases := []struct{ host, path, want string }{
		{"chat.example.com", "/", "exact"},
		{"chat.example.com:8443", "/x", "exact"},
		{"CHAT.Example.com.", "/x", "exact"},
		{"chat.example.com", "/api", "exact-api"},
		{"chat.example.com", "/api/v1", "exact-api"},
		{"chat.example.com", "/apis", "exact"},             // prefixes match whole segments
		{"chat.example.com", "/chat/x", "any-chat"},        // a longer prefix beats a more specific host
		{"chat.example.com", "/chat/rooms/1", "wild-long"}, // wildcard with the longest prefix
		{"eu.example.com", "/", "wild"},
		{"a.b.example.com", "/", "any-root"}, // a wildcard covers one label
		{"example.com", "/", "any-root"},
		{"other.org", "/chat", "any-chat"},
		{"other.org", "/chatty", "any-root"},
		{"mixed.example.org", "/", "upper"},
		{"[::1]:80", "/", "any-root"},
		{"", "/", "any-root"},
	}
	for _, c := range cases {
		r := table.Match(c.host, c.path)
		if r == nil || r.Name != c.want {
			t.Errorf("Match(%q, %q) = %v, want %s", c.host, c.path, r, c.want)
		}
	}
	if r := table.Match("x", "*"); r != nil {
		t.Errorf("a path without a leading slash matched %s", r.ID)
	}
}

func TestMatchTieBreaks(t *testing.T) {
	table := Build([]resolved.Ring{
		newRingSpec("b-any", 1, withRoute("/x")),
		newRingSpec("a-wild", 1, withRoute("/x", "*.example.com")),
		newRingSpec("c-exact", 1, withRoute("/x", "www.example.com")),
		newRingSpec("a-dup", 1, withRoute("/y")),
		newRingSpec("b-dup", 1, withRoute("/y")),
	}, nil, now)
	for _, c := range []struct{ host, path, want string }{
		{"www.example.com", "/x", "c-exact"},
		{"eu.example.com", "/x", "a-wild"},
		{"other", "/x", "b-any"},
		{"other", "/y", "a-dup"}, // equal routes: lowest namespace/name
	} {
		if r := table.Match(c.host, c.path); r == nil || r.Name != c.want {
			t.Errorf("Match(%q, %q) = %v, want %s", c.host, c.path, r, c.want)
		}
	}
}

func TestExtract(t *testing.T) {
	seg := func(i int32) *int32 { return &i }
	cases := []struct {
		name    string
		key     v1alpha1.KeySpec
		req     Request
		want    string
		wantErr error
	}{
		{"header", v1alpha1.KeySpec{Source: v1alpha1.KeySourceHeader, Name: "x-room"}, request("h", "/", "X-Room", "lobby"), "lobby", nil},
		{"header two lines", v1alpha1.KeySpec{Source: v1alpha1.KeySourceHeader, Name: "X-Room"}, request("h", "/", "X-Room", "a", "X-Room", "b"), "", ErrKeyDuplicate},
		{"header two lines equal", v1alpha1.KeySpec{Source: v1alpha1.KeySourceHeader, Name: "X-Room"}, request("h", "/", "X-Room", "a", "x-room", "a"), "", ErrKeyDuplicate},
		{"header two lines first blank", v1alpha1.KeySpec{Source: v1alpha1.KeySourceHeader, Name: "X-Room"}, request("h", "/", "X-Room", "", "X-Room", "b"), "", ErrKeyDuplicate},
		{"header missing", v1alpha1.KeySpec{Source: v1alpha1.KeySourceHeader, Name: "X-Room"}, request("h", "/"), "", ErrKeyMissing},
		{"header blank", v1alpha1.KeySpec{Source: v1alpha1.KeySourceHeader, Name: "X-Room"}, request("h", "/", "X-Room", "  "), "", ErrKeyMissing},
		{"query", v1alpha1.KeySpec{Source: v1alpha1.KeySourceQuery, Name: "room"}, request("h", "/ws?a=1&room=lobby&b=2"), "lobby", nil},
		{"query twice", v1alpha1.KeySpec{Source: v1alpha1.KeySourceQuery, Name: "room"}, request("h", "/ws?a=1&room=lobby&room=other"), "", ErrKeyDuplicate},
		{"query twice equal", v1alpha1.KeySpec{Source: v1alpha1.KeySourceQuery, Name: "room"}, request("h", "/ws?room=lobby&a=1&room=lobby"), "", ErrKeyDuplicate},
		{"query twice escaped name", v1alpha1.KeySpec{Source: v1alpha1.KeySourceQuery, Name: "room"}, request("h", "/ws?room=a&r%6Fom=b"), "", ErrKeyDuplicate},
		{"query twice bare", v1alpha1.KeySpec{Source: v1alpha1.KeySourceQuery, Name: "room"}, request("h", "/ws?room&room=b"), "", ErrKeyDuplicate},
		{"query twice first invalid", v1alpha1.KeySpec{Source: v1alpha1.KeySourceQuery, Name: "room"}, request("h", "/ws?room=%zz&room=b"), "", ErrKeyDuplicate},
		{"query similar names", v1alpha1.KeySpec{Source: v1alpha1.KeySourceQuery, Name: "room"}, request("h", "/ws?rooms=a&room=b&xroom=c&r%zzom=d"), "b", nil},
		{"query escaped", v1alpha1.KeySpec{Source: v1alpha1.KeySourceQuery, Name: "room"}, request("h", "/ws?room=a%2Fb+c"), "a/b c", nil},
		{"query escaped name", v1alpha1.KeySpec{Source: v1alpha1.KeySourceQuery, Name: "room"}, request("h", "/ws?r%6Fom=x"), "x", nil},
		{"query prefix name", v1alpha1.KeySpec{Source: v1alpha1.KeySourceQuery, Name: "room"}, request("h", "/ws?rooms=x"), "", ErrKeyMissing},
		{"query empty", v1alpha1.KeySpec{Source: v1alpha1.KeySourceQuery, Name: "room"}, request("h", "/ws?room="), "", ErrKeyMissing},
		{"query bare", v1alpha1.KeySpec{Source: v1alpha1.KeySourceQuery, Name: "room"}, request("h", "/ws?room"), "", ErrKeyMissing},
		{"query invalid", v1alpha1.KeySpec{Source: v1alpha1.KeySourceQuery, Name: "room"}, request("h", "/ws?room=%zz"), "", ErrKeyInvalid},
		{"cookie", v1alpha1.KeySpec{Source: v1alpha1.KeySourceCookie, Name: "room"}, request("h", "/", "Cookie", "a=1; room=lobby; b=2"), "lobby", nil},
		{"cookie quoted", v1alpha1.KeySpec{Source: v1alpha1.KeySourceCookie, Name: "room"}, request("h", "/", "Cookie", `room="lobby"`), "lobby", nil},
		{"cookie second line", v1alpha1.KeySpec{Source: v1alpha1.KeySourceCookie, Name: "room"}, request("h", "/", "Cookie", "a=1", "Cookie", "room=x"), "x", nil},
		{"cookie twice in one line", v1alpha1.KeySpec{Source: v1alpha1.KeySourceCookie, Name: "room"}, request("h", "/", "Cookie", "room=a; b=1; room=b"), "", ErrKeyDuplicate},
		{"cookie twice equal", v1alpha1.KeySpec{Source: v1alpha1.KeySourceCookie, Name: "room"}, request("h", "/", "Cookie", `room=a; room="a"`), "", ErrKeyDuplicate},
		{"cookie in two lines", v1alpha1.KeySpec{Source: v1alpha1.KeySourceCookie, Name: "room"}, request("h", "/", "Cookie", "room=a; b=1", "Cookie", "c=2; room=b"), "", ErrKeyDuplicate},
		{"cookie twice spaced name", v1alpha1.KeySpec{Source: v1alpha1.KeySourceCookie, Name: "room"}, request("h", "/", "Cookie", "room =a; room=b"), "", ErrKeyDuplicate},
		{"cookie twice bare", v1alpha1.KeySpec{Source: v1alpha1.KeySourceCookie, Name: "room"}, request("h", "/", "Cookie", "room; room=b"), "", ErrKeyDuplicate},
		{"cookie spaced name", v1alpha1.KeySpec{Source: v1alpha1.KeySourceCookie, Name: "room"}, request("h", "/", "Cookie", "a=1; room =x"), "x", nil},
		{"cookie bare", v1alpha1.KeySpec{Source: v1alpha1.KeySourceCookie, Name: "room"}, request("h", "/", "Cookie", "room; a=1"), "", ErrKeyMissing},
		{"cookie missing", v1alpha1.KeySpec{Source: v1alpha1.KeySourceCookie, Name: "room"}, request("h", "/", "Cookie", "rooms=1; xroom=2"), "", ErrKeyMissing},
		{"path", v1alpha1.KeySpec{Source: v1alpha1.KeySourcePath, PathSegment: seg(1)}, request("h", "/rooms/lobby/ws"), "lobby", nil},
		{"path first", v1alpha1.KeySpec{Source: v1alpha1.KeySourcePath, PathSegment: seg(0)}, request("h", "/lobby"), "lobby", nil},
		{"path encoded slash", v1alpha1.KeySpec{Source: v1alpha1.KeySourcePath, PathSegment: seg(1)}, request("h", "/rooms/a%2Fb/ws"), "a/b", nil},
		{"path encoded space", v1alpha1.KeySpec{Source: v1alpha1.KeySourcePath, PathSegment: seg(1)}, request("h", "/rooms/a%20b"), "a b", nil},
		{"path too short", v1alpha1.KeySpec{Source: v1alpha1.KeySourcePath, PathSegment: seg(3)}, request("h", "/rooms/lobby"), "", ErrKeyMissing},
		{"path empty segment", v1alpha1.KeySpec{Source: v1alpha1.KeySourcePath, PathSegment: seg(1)}, request("h", "/rooms//ws"), "", ErrKeyMissing},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k, err := newKey(c.key)
			if err != nil {
				t.Fatal(err)
			}
			got, err := k.Extract(c.req)
			if got != c.want || !errors.Is(err, c.wantErr) {
				t.Fatalf("Extract = %q, %v; want %q, %v", got, err, c.want, c.wantErr)
			}
		})
	}
}

func TestMissingKeyMessages(t *testing.T) {
	seg := int32(2)
	for _, c := range []struct {
		key  v1alpha1.KeySpec
		want string
	}{
		{v1alpha1.KeySpec{Source: v1alpha1.KeySourceQuery, Name: "room"}, `stablering: ring default/chat needs a room key in query parameter "room"` + "\n"},
		{v1alpha1.KeySpec{Source: v1alpha1.KeySourceHeader, Name: "X-Room"}, `stablering: ring default/chat needs a room key in header "X-Room"` + "\n"},
		{v1alpha1.KeySpec{Source: v1alpha1.KeySourceCookie, Name: "room"}, `stablering: ring default/chat needs a room key in cookie "room"` + "\n"},
		{v1alpha1.KeySpec{Source: v1alpha1.KeySourcePath, PathSegment: &seg}, "stablering: ring default/chat needs a room key in path segment 2 (0-based) of the URL path\n"},
	} {
		table := Build([]resolved.Ring{newRingSpec("chat", 3, withKey(c.key))}, nil, now)
		d := table.Decide(request("h", "/a"), now, nil)
		if d.Action != BadRequest || d.Reason != ReasonMissingKey || d.Action.Status() != 400 {
			t.Fatalf("%s: decision %v/%v", c.key.Source, d.Action, d.Reason)
		}
		if got := d.Message(0); got != c.want {
			t.Errorf("message %q, want %q", got, c.want)
		}
	}
}

func TestDuplicateKeyDecisions(t *testing.T) {
	for _, c := range []struct {
		key  v1alpha1.KeySpec
		req  Request
		want string
	}{
		{v1alpha1.KeySpec{Source: v1alpha1.KeySourceQuery, Name: "room"}, request("h", "/a?room=a&room=b"),
			`stablering: ring default/chat got the room key in query parameter "room" more than once` + "\n"},
		{v1alpha1.KeySpec{Source: v1alpha1.KeySourceHeader, Name: "X-Room"}, request("h", "/a", "X-Room", "a", "X-Room", "a"),
			`stablering: ring default/chat got the room key in header "X-Room" more than once` + "\n"},
		{v1alpha1.KeySpec{Source: v1alpha1.KeySourceCookie, Name: "room"}, request("h", "/a", "Cookie", "room=a", "Cookie", "room=b"),
			`stablering: ring default/chat got the room key in cookie "room" more than once` + "\n"},
	} {
		table := Build([]resolved.Ring{newRingSpec("chat", 3, withKey(c.key))}, nil, now)
		d := table.Decide(c.req, now, nil)
		if d.Action != BadRequest || d.Reason != ReasonDuplicateKey || d.Action.Status() != 400 {
			t.Fatalf("%s: decision %v/%v", c.key.Source, d.Action, d.Reason)
		}
		if d.Member != nil || d.Key != "" {
			t.Errorf("%s: duplicate key decided with member %v, key %q", c.key.Source, d.Member, d.Key)
		}
		if got := d.Reason.String(); got != "duplicate_key" {
			t.Errorf("reason %q, want duplicate_key", got)
		}
		if got := d.Message(0); got != c.want {
			t.Errorf("message %q, want %q", got, c.want)
		}
	}
}

func TestReasonNames(t *testing.T) {
	seen := map[string]Reason{}
	for r := ReasonOwner; int(r) < len(reasonNames); r++ {
		name := r.String()
		if name == "" || name == "unknown" {
			t.Errorf("reason %d has no name", r)
		}
		if prev, dup := seen[name]; dup {
			t.Errorf("reasons %d and %d are both %q", prev, r, name)
		}
		seen[name] = r
	}
	if ReasonMisconfigured.String() != "misconfigured" || ReasonDuplicateKey.String() != "duplicate_key" {
		t.Errorf("reasons are %q and %q", ReasonMisconfigured, ReasonDuplicateKey)
	}
}

// keyOwnedBy returns a room key whose owner on r is ordinal o.
func keyOwnedBy(t *testing.T, r *Ring, o int32) string {
	t.Helper()
	for i := range 10000 {
		k := fmt.Sprintf("room-%d", i)
		if m := r.Owner(k); m != nil && m.Ordinal == o {
			return k
		}
	}
	t.Fatalf("no key owned by %d", o)
	return ""
}

// health marks addresses unreachable until a time.
type health map[string]time.Time

func (h health) Unreachable(address string, now time.Time) (time.Time, bool) {
	until, ok := h[address]
	return until, ok && now.Before(until)
}

func TestDecideStates(t *testing.T) {
	base := Build([]resolved.Ring{newRingSpec("chat", 4)}, nil, now)
	key := keyOwnedBy(t, base.Ring("default/chat"), 1)
	owner := "10.0.0.2:8080"
	cases := []struct {
		name       string
		mods       []func(*resolved.Ring)
		health     Health
		action     Action
		reason     Reason
		retryAfter time.Duration
		message    string
	}{
		{name: "serving", action: Proxy, reason: ReasonOwner},
		{name: "draining", mods: mods(withMember(1, v1alpha1.MemberDraining, now.Add(-4*time.Second))),
			action: Hold, reason: ReasonDraining, retryAfter: 6 * time.Second,
			message: "stablering: ring default/chat member 1 is draining (planned restart); retry after 7s\n"},
		{name: "draining past its window", mods: mods(withMember(1, v1alpha1.MemberDraining, now.Add(-time.Minute))),
			action: Hold, reason: ReasonDraining},
		{name: "restarting", mods: mods(withMember(1, v1alpha1.MemberRestarting, now)),
			action: Hold, reason: ReasonRestarting, retryAfter: restartRetry,
			message: "stablering: ring default/chat member 1 is restarting (planned); retry after 2s\n"},
		{name: "unknown state", mods: mods(withMember(1, "Hibernating", now), withPolicy(v1alpha1.UnavailableFailover)),
			action: Hold, reason: ReasonUnknownState, retryAfter: restartRetry,
			message: "stablering: ring default/chat member 1 is in state \"Hibernating\", which this gateway does not know; retry after 2s\n"},
		{name: "restarting under failover", mods: mods(withMember(1, v1alpha1.MemberRestarting, now.Add(-time.Hour)), withPolicy(v1alpha1.UnavailableFailover)),
			action: Hold, reason: ReasonRestarting, retryAfter: restartRetry},
		{name: "down within hold", mods: mods(withMember(1, v1alpha1.MemberDown, now.Add(-20*time.Second))),
			action: Hold, reason: ReasonDown, retryAfter: 40 * time.Second,
			message: "stablering: ring default/chat member 1 is down (rooms held up to 1m0s, then failed over); retry after 9s\n"},
		{name: "down after hold", mods: mods(withMember(1, v1alpha1.MemberDown, now.Add(-61*time.Second))),
			action: Proxy, reason: ReasonFailover},
		{name: "down under failover", mods: mods(withMember(1, v1alpha1.MemberDown, now), withPolicy(v1alpha1.UnavailableFailover)),
			action: Proxy, reason: ReasonFailover},
		{name: "unreachable under hold", health: health{owner: now.Add(5 * time.Second)},
			action: Hold, reason: ReasonUnreachable, retryAfter: 5 * time.Second,
			message: "stablering: ring default/chat member 1 is unreachable (connection failed); retry after 3s\n"},
		{name: "unreachable mark expired", health: health{owner: now}, action: Proxy, reason: ReasonOwner},
		{name: "unreachable under failover", health: health{owner: now.Add(5 * time.Second)},
			mods: mods(withPolicy(v1alpha1.UnavailableFailover)), action: Proxy, reason: ReasonFailover},
		{name: "no address", mods: mods(func(sr *resolved.Ring) { sr.Members[1].Address = "" }),
			action: Hold, reason: ReasonNoAddress, retryAfter: noAddressRetry,
			message: "stablering: ring default/chat member 1 has no address: its pod does not declare the port spec.port names," +
				" or has no IP (see the StableRing's Ready condition); retry after 2s\n"},
		{name: "all unusable", mods: mods(allMembers(v1alpha1.MemberDown, now.Add(-time.Hour))),
			action: Unavailable, reason: ReasonNoUsableMember, retryAfter: noUsableRetry,
			message: "stablering: ring default/chat has no usable member for this room; retry after 2s\n"},
		{name: "no joined members", mods: mods(allMembers(v1alpha1.MemberPending, now)),
			action: Unavailable, reason: ReasonNoMembers, retryAfter: noMembersRetry},
		{name: "no members", mods: mods(func(sr *resolved.Ring) { sr.Members = nil }),
			action: Unavailable, reason: ReasonNoMembers},
		{name: "misconfigured", mods: mods(func(sr *resolved.Ring) { sr.Spec.Hash.Algorithm = "Magic" }),
			action: Unavailable, reason: ReasonMisconfigured, retryAfter: misconfiguredRetry},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			table := Build([]resolved.Ring{newRingSpec("chat", 4, c.mods...)}, nil, now)
			d := table.Decide(request("h", "/ws?room="+key), now, c.health)
			if d.Action != c.action || d.Reason != c.reason {
				t.Fatalf("decision %v/%v, want %v/%v", d.Action, d.Reason, c.action, c.reason)
			}
			if c.retryAfter != 0 && d.RetryAfter != c.retryAfter {
				t.Errorf("RetryAfter %v, want %v", d.RetryAfter, c.retryAfter)
			}
			if c.message != "" {
				if got := d.Message(retryFor(c.message)); got != c.message {
					t.Errorf("message %q, want %q", got, c.message)
				}
			}
			checkMember(t, d, table.Ring("default/chat"))
		})
	}
}

func mods(m ...func(*resolved.Ring)) []func(*resolved.Ring) { return m }

func allMembers(state v1alpha1.MemberState, since time.Time) func(*resolved.Ring) {
	return func(sr *resolved.Ring) {
		for i := range sr.Members {
			sr.Members[i].State = state
			sr.Members[i].LastTransitionTime = &metav1.Time{Time: since}
		}
	}
}

// retryFor reads the seconds back out of an expected message.
func retryFor(message string) int {
	var n int
	if i := strings.LastIndex(message, "retry after "); i >= 0 {
		_, _ = fmt.Sscanf(message[i:], "retry after %ds", &n)
	}
	return n
}

// checkMember checks the invariants of a decision's members.
func checkMember(t *testing.T, d Decision, r *Ring) {
	t.Helper()
	switch {
	case d.Action == Proxy && d.Reason == ReasonOwner:
		if d.Member != d.Owner {
			t.Error("an owner decision must proxy to the owner")
		}
	case d.Action == Proxy:
		if d.Member == d.Owner || d.Member.State != v1alpha1.MemberServing || d.Member.Address == "" {
			t.Errorf("failover to %+v", d.Member)
		}
	case d.Action == Hold:
		if d.Member == nil || d.Member != d.Owner {
			t.Error("a hold names the owner")
		}
	}
	if d.Ring != r {
		t.Error("decision names another ring")
	}
}

func TestFailoverSkipsUnusable(t *testing.T) {
	sr := newRingSpec("chat", 6,
		withMember(0, v1alpha1.MemberDown, now.Add(-time.Hour)),
		withMember(1, v1alpha1.MemberDraining, now),
		withMember(2, v1alpha1.MemberRestarting, now),
		withMember(3, v1alpha1.MemberPending, now),
		withPolicy(v1alpha1.UnavailableFailover))
	table := Build([]resolved.Ring{sr}, nil, now)
	r := table.Ring("default/chat")
	h := health{"10.0.0.5:8080": now.Add(time.Minute)} // member 4 unreachable
	for i := range 500 {
		d := r.DecideKey(fmt.Sprintf("k%d", i), now, h)
		if d.Reason != ReasonFailover {
			continue
		}
		if d.Member.Ordinal != 5 {
			t.Fatalf("key k%d failed over to %d; only 5 is usable", i, d.Member.Ordinal)
		}
	}
}

func TestSameDecisionOnEveryReplica(t *testing.T) {
	rings := []resolved.Ring{newRingSpec("chat", 7, withMember(3, v1alpha1.MemberDown, now.Add(-time.Hour)))}
	for _, alg := range []v1alpha1.Algorithm{v1alpha1.AlgorithmJump, v1alpha1.AlgorithmKetama, v1alpha1.AlgorithmMaglev, v1alpha1.AlgorithmRendezvous} {
		rings[0].Status.Hash = &v1alpha1.HashSpec{Algorithm: alg}
		a := Build(rings, nil, now).Ring("default/chat")
		b := Build(rings, nil, now.Add(time.Hour)).Ring("default/chat")
		if string(a.Algorithm()) != string(alg) {
			t.Fatalf("algorithm %s, want %s", a.Algorithm(), alg)
		}
		for i := range 2000 {
			k := fmt.Sprintf("room-%d", i)
			da, db := a.DecideKey(k, now, nil), b.DecideKey(k, now, nil)
			if da.Member.Ordinal != db.Member.Ordinal || da.Reason != db.Reason {
				t.Fatalf("%s: key %s: %d/%v vs %d/%v", alg, k, da.Member.Ordinal, da.Reason, db.Member.Ordinal, db.Reason)
			}
		}
	}
}

func TestRingsRouteByStatusHash(t *testing.T) {
	sr := newRingSpec("chat", 5)
	sr.Spec.Hash = v1alpha1.HashSpec{Algorithm: v1alpha1.AlgorithmMaglev}
	if got := Build([]resolved.Ring{sr}, nil, now).Ring("default/chat").Algorithm(); got != "Maglev" {
		t.Fatalf("without status.hash the ring uses spec.hash: got %s", got)
	}
	sr.Status.Hash = &v1alpha1.HashSpec{Algorithm: v1alpha1.AlgorithmRendezvous}
	if got := Build([]resolved.Ring{sr}, nil, now).Ring("default/chat").Algorithm(); got != "Rendezvous" {
		t.Fatalf("status.hash wins: got %s", got)
	}
}

func TestBuildKeepsHashAndFirstSeen(t *testing.T) {
	sr := newRingSpec("chat", 3)
	sr.Members[2].State = v1alpha1.MemberDraining // no lastTransitionTime
	t1 := Build([]resolved.Ring{sr}, nil, now)
	later := now.Add(5 * time.Second)
	sr.Status.RingVersion = "v2"
	sr.Members[0].Address = "10.0.0.99:8080" // an address change keeps the hash ring
	t2 := Build([]resolved.Ring{sr}, t1, later)
	r1, r2 := t1.Ring("default/chat"), t2.Ring("default/chat")
	if r1.hash != r2.hash {
		t.Error("an unchanged member set must keep its hash ring")
	}
	if got := r2.Member(2).Since; !got.Equal(now) {
		t.Errorf("a member still Draining keeps its first-seen time: %v", got)
	}
	sr.Members[2].State = v1alpha1.MemberRestarting
	sr.Members = append(sr.Members, v1alpha1.Member{Ordinal: 3, State: v1alpha1.MemberServing, Address: "a:1"})
	t3 := Build([]resolved.Ring{sr}, t2, later)
	if got := t3.Ring("default/chat").Member(2).Since; !got.Equal(later) {
		t.Errorf("a new state starts now: %v", got)
	}
	if t3.Ring("default/chat").hash == r2.hash {
		t.Error("a new member must rebuild the hash ring")
	}
}

func TestBrokenRings(t *testing.T) {
	dup := newRingSpec("dup", 2)
	dup.Members[1].Ordinal = 0
	cases := map[string]resolved.Ring{
		"policy":    newRingSpec("p", 1, withPolicy("Sometimes")),
		"prefix":    newRingSpec("x", 1, withRoute("chat")),
		"key name":  newRingSpec("k", 1, withKey(v1alpha1.KeySpec{Source: v1alpha1.KeySourceHeader})),
		"key path":  newRingSpec("s", 1, withKey(v1alpha1.KeySpec{Source: v1alpha1.KeySourcePath})),
		"key kind":  newRingSpec("q", 1, withKey(v1alpha1.KeySpec{Source: "Body", Name: "x"})),
		"duplicate": dup,
	}
	for name, sr := range cases {
		sr.Spec.Route.Hosts = []string{"broken.example"}
		table := Build([]resolved.Ring{sr, newRingSpec("fallback", 1)}, nil, now)
		r := table.Ring("default/" + sr.Name)
		if r == nil || r.Err == nil {
			t.Errorf("%s: want a ring with an error", name)
			continue
		}
		if sr.Spec.Route.PathPrefix == "chat" {
			continue // an invalid prefix cannot match
		}
		d := table.Decide(request("broken.example", "/?room=a"), now, nil)
		if d.Reason != ReasonMisconfigured || d.Ring != r || !strings.Contains(d.Message(10), "cannot route") {
			t.Errorf("%s: a broken ring answers 503 itself, got %v/%v %q", name, d.Action, d.Reason, d.Message(10))
		}
	}
}

func TestNotFound(t *testing.T) {
	table := Build([]resolved.Ring{newRingSpec("chat", 1, withRoute("/chat", "chat.example.com"))}, nil, now)
	d := table.Decide(request("evil.example", "/x\"y"), now, nil)
	if d.Action != NotFound || d.Action.Status() != 404 {
		t.Fatalf("decision %v", d.Action)
	}
	if want := `stablering: no StableRing routes host "evil.example" and path "/x\"y"` + "\n"; d.Message(0) != want {
		t.Errorf("message %q, want %q", d.Message(0), want)
	}
	long := Decision{Action: NotFound, Reason: ReasonNoRoute, Path: "/" + strings.Repeat("a", 5000)}
	if len(long.Message(0)) > 2*maxEcho+100 {
		t.Errorf("a long path is echoed in full")
	}
}

func TestDecideAllocatesNothing(t *testing.T) {
	seg := int32(1)
	rings := []resolved.Ring{
		newRingSpec("query", 5, withRoute("/q")),
		newRingSpec("header", 5, withRoute("/h"), withKey(v1alpha1.KeySpec{Source: v1alpha1.KeySourceHeader, Name: "x-room"})),
		newRingSpec("cookie", 5, withRoute("/c"), withKey(v1alpha1.KeySpec{Source: v1alpha1.KeySourceCookie, Name: "room"})),
		newRingSpec("path", 5, withRoute("/p"), withKey(v1alpha1.KeySpec{Source: v1alpha1.KeySourcePath, PathSegment: &seg})),
	}
	table := Build(rings, nil, now)
	h := health{}
	for _, r := range []Request{
		request("Chat.Example.com:443", "/q/ws?a=b&room=lobby"),
		request("h", "/q/ws?room=lobby&a=b&rooms=c"),
		request("h", "/h/ws", "X-Room", "lobby"),
		request("h", "/c/ws", "Cookie", "a=b; room=lobby"),
		request("h", "/c/ws", "Cookie", "room=lobby; a=b", "Cookie", "c=d; rooms=e"),
		request("h", "/p/lobby/ws"),
	} {
		allocs := testing.AllocsPerRun(100, func() {
			if d := table.Decide(r, now, h); d.Action != Proxy {
				t.Fatalf("%s: %v", r.Path(), d.Action)
			}
		})
		if allocs > 0 && !strings.HasPrefix(r.Host(), "Chat") {
			t.Errorf("%s: %v allocations per Decide", r.Path(), allocs)
		}
	}
}

// FuzzDecide routes hostile requests: nothing may panic, and every decision must be
// consistent with its action.
func FuzzDecide(f *testing.F) {
	f.Add("chat.example.com", "/rooms/lobby/ws", "", "room=lobby", "X-Room", "lobby", "room=a")
	f.Add("[::1]:99999", "/rooms/%zz/ws", "/rooms/%zz/ws", "room=%", "x-room", "", `room="`)
	f.Add(":", "", "", "&&==&room&room=%2", "Cookie", ";;=;", "=;room")
	f.Add(strings.Repeat("a.", 100), "//////", "/%2F%2F", "r%6Fom=%F0%9F", "X-ROOM", "\x00", "room=\xff")
	seg := int32(1)
	rings := []resolved.Ring{
		newRingSpec("query", 3, withRoute("/", "chat.example.com")),
		newRingSpec("wild", 3, withRoute("/rooms", "*.example.com"), withKey(v1alpha1.KeySpec{Source: v1alpha1.KeySourcePath, PathSegment: &seg})),
		newRingSpec("header", 3, withRoute("/h"), withKey(v1alpha1.KeySpec{Source: v1alpha1.KeySourceHeader, Name: "X-Room"})),
		newRingSpec("cookie", 3, withRoute("/"), withKey(v1alpha1.KeySpec{Source: v1alpha1.KeySourceCookie, Name: "room"}),
			withMember(1, v1alpha1.MemberDown, now)),
	}
	table := Build(rings, nil, now)
	f.Fuzz(func(t *testing.T, host, path, rawPath, query, hname, hvalue, cookie string) {
		r := &http.Request{
			Host:   host,
			URL:    &url.URL{Path: path, RawPath: rawPath, RawQuery: query},
			Header: http.Header{hname: {hvalue}, "Cookie": {cookie}},
		}
		d := table.Decide(HTTPRequest{r}, now, health{})
		switch d.Action {
		case Proxy:
			if d.Member == nil || d.Key == "" {
				t.Fatal("proxy without a member or key")
			}
		case NotFound:
			if d.Ring != nil {
				t.Fatal("not found with a ring")
			}
		case BadRequest, Hold, Unavailable:
			if d.Ring == nil {
				t.Fatal("answer without a ring")
			}
		default:
			t.Fatalf("action %v", d.Action)
		}
		if d.Action != Proxy && !strings.HasSuffix(d.Message(1), "\n") {
			t.Fatal("messages end with a newline")
		}
	})
}

// BenchmarkDecide routes a request on a table of 50 rings of 100 members.
func BenchmarkDecide(b *testing.B) {
	var rings []resolved.Ring
	for i := range 50 {
		rings = append(rings, newRingSpec(fmt.Sprintf("ring-%d", i), 100, withRoute(fmt.Sprintf("/r%d", i), "chat.example.com")))
	}
	table := Build(rings, nil, now)
	r := request("chat.example.com", "/r25/ws?room=lobby-42")
	h := health{}
	b.ReportAllocs()
	for b.Loop() {
		if d := table.Decide(r, now, h); d.Action != Proxy {
			b.Fatal(d.Action)
		}
	}
}

// TestValuesThePackageDoesNotHave checks that an action or reason outside the package's
// constants fails loudly instead of passing for one of them.
func TestValuesThePackageDoesNotHave(t *testing.T) {
	unknownAction := Action(len(actionNames))
	if got := unknownAction.Status(); got != http.StatusInternalServerError {
		t.Errorf("status of an unknown action: %d, want 500", got)
	}
	if got := unknownAction.String(); got != "unknown" {
		t.Errorf("unknown action named %q", got)
	}
	unknownReason := Reason(len(reasonNames))
	if got := unknownReason.String(); got != "unknown" {
		t.Errorf("unknown reason named %q", got)
	}
	d := Decision{Action: Unavailable, Reason: unknownReason}
	if got, want := d.Message(3), "stablering: the gateway cannot serve this request (reason 16); retry after 3s\n"; got != want {
		t.Errorf("message of an unknown reason: %q, want %q", got, want)
	}
}

// TestFailureMessages checks the bodies of answers about a member that the gateway forwarded to
// or could not forward to.
func TestFailureMessages(t *testing.T) {
	table := Build([]resolved.Ring{newRingSpec("chat", 3)}, nil, now)
	r := table.Ring("default/chat")
	d := r.DecideKey(keyOwnedBy(t, r, 2), now, nil)
	if got, want := d.MemberFailed("did not answer"), "stablering: ring default/chat member 2 did not answer\n"; got != want {
		t.Errorf("MemberFailed: %q, want %q", got, want)
	}
	if got, want := d.LocalFailure("EMFILE", 1),
		"stablering: the gateway cannot connect to ring default/chat member 2 now: out of local resources (EMFILE); retry after 1s\n"; got != want {
		t.Errorf("LocalFailure: %q, want %q", got, want)
	}
}

package splice_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/gateway/resolved"
	"github.com/stablering/stablering/gateway/route"
	"github.com/stablering/stablering/gateway/splice"
	"github.com/stablering/stablering/gateway/wsframe"
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// closeCall is a close the registry fired.
type closeCall struct {
	key    string
	code   uint16
	reason string
}

// fakeTunnel reports its closes on a channel.
type fakeTunnel struct {
	key    string
	closes chan<- closeCall
}

func (f *fakeTunnel) Close(code uint16, reason string) { f.closes <- closeCall{f.key, code, reason} }
func (f *fakeTunnel) Kill()                            { f.closes <- closeCall{key: f.key} }

// ring is StableRing default/chat over three Serving members, with drainSeconds 2 and holdSeconds
// 60; states overrides members' states, since t0.
func ring(states map[int32]v1alpha1.MemberState) resolved.Ring {
	sr := resolved.Ring{StableRing: &v1alpha1.StableRing{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "chat"},
		Spec: v1alpha1.StableRingSpec{
			Key:         v1alpha1.KeySpec{Source: v1alpha1.KeySourceQuery, Name: "room"},
			Unavailable: v1alpha1.UnavailableSpec{Policy: v1alpha1.UnavailableHold, HoldSeconds: 60},
			Rollout:     v1alpha1.RolloutSpec{DrainSeconds: 2},
		},
	}}
	for o := range int32(3) {
		state := v1alpha1.MemberServing
		if s, ok := states[o]; ok {
			state = s
		}
		sr.Members = append(sr.Members, v1alpha1.Member{
			Ordinal: o, Address: fmt.Sprintf("10.0.0.%d:8080", o+1), State: state,
			LastTransitionTime: &metav1.Time{Time: t0},
		})
	}
	return sr
}

// keysOf returns n room keys that member o owns.
func keysOf(t *testing.T, table *route.Table, o int32, n int) []string {
	t.Helper()
	var keys []string
	for i := 0; len(keys) < n && i < 10000; i++ {
		k := fmt.Sprintf("room-%d", i)
		if m := table.Ring("default/chat").Owner(k); m != nil && m.Ordinal == o {
			keys = append(keys, k)
		}
	}
	if len(keys) < n {
		t.Fatalf("found %d keys of member %d, want %d", len(keys), o, n)
	}
	return keys
}

// fixture is a registry on a fake clock whose current view the test sets.
type fixture struct {
	clk    *clocktesting.FakeClock
	reg    *splice.Registry
	view   splice.View
	closes chan closeCall
	fired  chan string // the reasons passed to Options.Closed
	failed chan string // the reasons passed to Options.ResumeFailed
}

func newFixture(table *route.Table) *fixture {
	f := &fixture{clk: clocktesting.NewFakeClock(t0), view: splice.View{Table: table}, closes: make(chan closeCall, 100),
		fired: make(chan string, 100), failed: make(chan string, 100)}
	f.reg = splice.NewRegistry(splice.Options{
		Current:       func() splice.View { return f.view },
		Log:           logr.Discard(),
		ReunionWindow: time.Second,
		Closed:        func(_, _, reason string) { f.fired <- reason },
		ResumeFailed:  func(_, reason string) { f.failed <- reason },
		Clock:         f.clk,
	})
	return f
}

func (f *fixture) add(key string, ordinal int32, misplaced bool) {
	c := &splice.Conn{Tunnel: &fakeTunnel{key: key, closes: f.closes}, Ring: "default/chat", Key: key, Ordinal: ordinal, Label: fmt.Sprint(ordinal)}
	f.reg.Add(c, misplaced, f.view.Table)
}

// expectClosesAt moves the clock to each instant in turn and checks that exactly one close fires
// there and none a nanosecond before. Timers on the fake clock fire only when it is moved, so
// this asserts the schedule exactly, however slowly the test runs.
func (f *fixture) expectClosesAt(t *testing.T, at []time.Time, code uint16, reason, label string) {
	t.Helper()
	for i, when := range at {
		pending := len(at) - i
		f.clk.SetTime(when.Add(-time.Nanosecond))
		if got := f.clk.Waiters(); got != pending {
			t.Fatalf("before close %d at %v: %d closes pending, want %d", i, when.Sub(t0), got, pending)
		}
		f.clk.SetTime(when)
		if got := f.clk.Waiters(); got != pending-1 {
			t.Fatalf("at %v: %d closes pending, want %d", when.Sub(t0), got, pending-1)
		}
		c := <-f.closes
		if c.code != code || c.reason != reason {
			t.Errorf("close of %s at %v: %d %q, want %d %q", c.key, when.Sub(t0), c.code, c.reason, code, reason)
		}
		if got := <-f.fired; got != label {
			t.Errorf("close at %v counted as %q, want %q", when.Sub(t0), got, label)
		}
	}
}

// TestDrainPacedOnTheClock checks that the connections of a member that starts Draining are
// closed one by one over drainSeconds, at the midpoints of equal slots (100ms, 300ms, ... 1.9s for
// ten connections over two seconds), and that connections of other members stay open.
func TestDrainPacedOnTheClock(t *testing.T) {
	serving := route.Build([]resolved.Ring{ring(nil)}, nil, t0)
	f := newFixture(serving)
	for _, k := range keysOf(t, serving, 1, 10) {
		f.add(k, 1, false)
	}
	f.add(keysOf(t, serving, 0, 1)[0], 0, false)

	draining := route.Build([]resolved.Ring{ring(map[int32]v1alpha1.MemberState{1: v1alpha1.MemberDraining})}, serving, t0)
	f.view = splice.View{Table: draining}
	f.reg.Reconcile(f.view, []string{"default/chat"}, f.clk.Now())

	var at []time.Time
	for i := range 10 {
		at = append(at, t0.Add(time.Duration(2*i+1)*100*time.Millisecond))
	}
	f.expectClosesAt(t, at, wsframe.CloseServiceRestart, "member is restarting", "drain")
	f.clk.SetTime(t0.Add(time.Hour))
	if n := f.clk.Waiters(); n != 0 || len(f.closes) != 0 {
		t.Errorf("after the drain: %d closes pending and %d fired, want none: the Serving member's connection stays", n, len(f.closes))
	}
}

// TestDrainEndsWithTheMembersWindow checks that a drain noticed late is spread over what is
// left of drainSeconds since the member started Draining, not over a whole new window.
func TestDrainEndsWithTheMembersWindow(t *testing.T) {
	serving := route.Build([]resolved.Ring{ring(nil)}, nil, t0)
	f := newFixture(serving)
	for _, k := range keysOf(t, serving, 2, 2) {
		f.add(k, 2, false)
	}
	f.clk.SetTime(t0.Add(time.Second)) // the member has been Draining since t0
	draining := route.Build([]resolved.Ring{ring(map[int32]v1alpha1.MemberState{2: v1alpha1.MemberDraining})}, serving, t0)
	f.view = splice.View{Table: draining}
	f.reg.Reconcile(f.view, []string{"default/chat"}, f.clk.Now())
	f.expectClosesAt(t, []time.Time{t0.Add(1250 * time.Millisecond), t0.Add(1750 * time.Millisecond)},
		wsframe.CloseServiceRestart, "member is restarting", "drain")
}

// TestReunionOnTheClock checks that a connection failed over while its room's owner was
// unusable is closed, within the reunion window, once the owner can take the room back, so the
// room is not split; until then the connection stays.
func TestReunionOnTheClock(t *testing.T) {
	down := route.Build([]resolved.Ring{ring(map[int32]v1alpha1.MemberState{1: v1alpha1.MemberDown})}, nil, t0)
	f := newFixture(down)
	key := keysOf(t, down, 1, 1)[0]
	f.add(key, 0, true) // failed over to member 0

	f.clk.SetTime(t0.Add(30 * time.Second))
	f.reg.Tick(f.clk.Now())
	if n := f.clk.Waiters(); n != 0 {
		t.Fatalf("%d closes pending while the owner is Down, want none", n)
	}

	back := route.Build([]resolved.Ring{ring(nil)}, down, t0)
	f.view = splice.View{Table: back}
	f.reg.Reconcile(f.view, []string{"default/chat"}, f.clk.Now())
	f.expectClosesAt(t, []time.Time{t0.Add(30*time.Second + 500*time.Millisecond)}, wsframe.CloseServiceRestart, "room moves back to its owner", "reunion")
}

// TestShutdownOnTheClock checks that shutdown closes every connection with 1001 over the
// window, and that a connection registered afterwards is closed at once.
func TestShutdownOnTheClock(t *testing.T) {
	table := route.Build([]resolved.Ring{ring(nil)}, nil, t0)
	f := newFixture(table)
	keys := keysOf(t, table, 0, 2)
	f.add(keys[0], 0, false)
	f.add(keys[1], 0, false)
	f.reg.Shutdown(4 * time.Second)
	f.expectClosesAt(t, []time.Time{t0.Add(time.Second), t0.Add(3 * time.Second)}, wsframe.CloseGoingAway, "gateway is shutting down", "shutdown")

	f.add(keysOf(t, table, 1, 1)[0], 1, false)
	f.expectClosesAt(t, []time.Time{t0.Add(3 * time.Second)}, wsframe.CloseGoingAway, "gateway is shutting down", "shutdown")
}

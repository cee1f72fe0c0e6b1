package main

import (
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"
	clocktesting "k8s.io/utils/clock/testing"
)

// TestDrainSpreadsOverTheWindow drains four members over 800ms on a fake clock: one goes at
// once, then one every 200ms, each with 1001; joins fail from the start; drain returns once every
// member has left.
func TestDrainSpreadsOverTheWindow(t *testing.T) {
	t0 := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	clk := clocktesting.NewFakeClock(t0)
	h := newHub("chat-0")
	h.clock = clk
	var members []*member
	for _, room := range []string{"a", "a", "b", "c"} {
		m := newMember(room+"-member", room)
		if _, err := h.join(m); err != nil {
			t.Fatal(err)
		}
		members = append(members, m)
	}
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := h.drain(context.Background(), 800*time.Millisecond)
		done <- result{n, err}
	}()

	for i := 1; i <= 3; i++ {
		waitForTimer(t, clk)
		if got := stoppedCount(members); got != i {
			t.Fatalf("at %v: %d members stopped, want %d", clk.Since(t0), got, i)
		}
		clk.SetTime(t0.Add(time.Duration(i)*200*time.Millisecond - time.Nanosecond))
		if !clk.HasWaiters() {
			t.Fatalf("member %d went before %v", i, time.Duration(i)*200*time.Millisecond)
		}
		clk.SetTime(t0.Add(time.Duration(i) * 200 * time.Millisecond))
	}
	for stoppedCount(members) < 4 {
		time.Sleep(time.Millisecond) // the last stop follows the last timer on the drain's goroutine
	}
	if _, err := h.join(newMember("late", "a")); err == nil {
		t.Error("a join during the drain succeeded")
	}
	for _, m := range members {
		if m.stopCode != websocket.StatusGoingAway {
			t.Errorf("member %s stopped with %v, want 1001", m.id, m.stopCode)
		}
		h.leave(m)
	}
	if r := <-done; r.n != 4 || r.err != nil {
		t.Errorf("drain = %d, %v; want 4, nil", r.n, r.err)
	}
}

// waitForTimer waits until the drain waits on clk.
func waitForTimer(t *testing.T, clk *clocktesting.FakeClock) {
	t.Helper()
	for !clk.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
}

func stoppedCount(members []*member) int {
	n := 0
	for _, m := range members {
		select {
		case <-m.stopped:
			n++
		default:
		}
	}
	return n
}

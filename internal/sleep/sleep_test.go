package sleep_test

import (
	"context"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/stablering/stablering/internal/sleep"
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// waitFor returns what f, run on its own goroutine, returns once it is waiting on clk.
func waitFor(t *testing.T, clk *clocktesting.FakeClock, f func() bool) <-chan bool {
	t.Helper()
	done := make(chan bool, 1)
	go func() { done <- f() }()
	for !clk.HasWaiters() {
		select {
		case v := <-done:
			t.Fatalf("returned %v without waiting", v)
		default:
			time.Sleep(time.Millisecond)
		}
	}
	return done
}

func TestForWaitsOnTheClock(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	on := sleep.On{Clock: clk}
	done := waitFor(t, clk, func() bool { return on.For(context.Background(), time.Second) })
	clk.Step(time.Second - time.Nanosecond)
	if !clk.HasWaiters() {
		t.Fatal("For(1s) stopped waiting a nanosecond early")
	}
	clk.Step(time.Nanosecond)
	if !<-done {
		t.Error("For on a live context reported it done")
	}
}

func TestUntilWaitsOnTheClock(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	on := sleep.On{Clock: clk}
	done := waitFor(t, clk, func() bool { return on.Until(context.Background(), t0.Add(time.Minute)) })
	clk.SetTime(t0.Add(time.Minute))
	if !<-done {
		t.Error("Until on a live context reported it done")
	}
	if !on.Until(context.Background(), t0) {
		t.Error("Until a past time on a live context reported it done")
	}
}

func TestCancelEndsTheWait(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	ctx, cancel := context.WithCancel(context.Background())
	done := waitFor(t, clk, func() bool { return sleep.On{Clock: clk}.For(ctx, time.Hour) })
	cancel()
	if <-done {
		t.Error("For reported a cancelled context live")
	}
	if sleep.For(ctx, 0) || sleep.Until(ctx, time.Now().Add(time.Hour)) {
		t.Error("a cancelled context reported live")
	}
	if !sleep.For(context.Background(), -time.Second) {
		t.Error("For without a wait on a live context reported it done")
	}
}

package sleep_test

import (
	"context"
	"testing"
	"time"

	"github.com/stablering/stablering/internal/sleep"
)

func TestFor(t *testing.T) {
	live := context.Background()
	done, cancel := context.WithCancel(context.Background())
	cancel()

	start := time.Now()
	if !sleep.For(live, 20*time.Millisecond) {
		t.Error("For on a live context reported it done")
	}
	if waited := time.Since(start); waited < 20*time.Millisecond {
		t.Errorf("For(20ms) returned after %v", waited)
	}
	if !sleep.For(live, 0) || !sleep.For(live, -time.Second) {
		t.Error("For without a wait on a live context reported it done")
	}
	if sleep.For(done, 0) || sleep.For(done, time.Hour) {
		t.Error("For on a done context reported it live")
	}
}

func TestUntil(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		time.Sleep(10 * time.Millisecond)
		cancel()
	}()
	if sleep.Until(ctx, time.Now().Add(time.Hour)) {
		t.Error("Until an hour from now reported a cancelled context live")
	}
	if !sleep.Until(context.Background(), time.Now().Add(-time.Second)) {
		t.Error("Until a past time on a live context reported it done")
	}
}

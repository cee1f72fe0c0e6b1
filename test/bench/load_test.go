package bench

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestOpenLoopRate(t *testing.T) {
	var calls atomic.Int64
	load := OpenLoop{Rate: 1000, Warmup: 100 * time.Millisecond, Duration: 300 * time.Millisecond, Workers: 4, Drain: time.Second}
	res := load.Run(context.Background(), func(context.Context, int, *Recorder) error {
		calls.Add(1)
		return nil
	})
	if n := calls.Load(); n != 400 {
		t.Errorf("%d operations, want 400 (warm-up and measured)", n)
	}
	if res.OK != 300 {
		t.Errorf("OK = %d, want the 300 measured", res.OK)
	}
}

// TestOpenLoopChargesStalls checks that latency runs from the intended send time: with one
// worker stalled for 100ms, the operations due meanwhile wait and are charged for it.
func TestOpenLoopChargesStalls(t *testing.T) {
	var once sync.Once
	load := OpenLoop{Rate: 1000, Duration: 200 * time.Millisecond, Workers: 1, Drain: time.Second}
	res := load.Run(context.Background(), func(context.Context, int, *Recorder) error {
		once.Do(func() { time.Sleep(100 * time.Millisecond) })
		return nil
	})
	if res.Latency.P90 < 10*time.Millisecond {
		t.Errorf("p90 %v: the operations queued behind the stall were not charged for it", res.Latency.P90)
	}
	if res.Latency.Max < 90*time.Millisecond {
		t.Errorf("max %v, want about the 100ms stall", res.Latency.Max)
	}
}

func TestOpenLoopDrainDeadline(t *testing.T) {
	load := OpenLoop{Rate: 100, Duration: 100 * time.Millisecond, Workers: 1, Drain: 50 * time.Millisecond}
	res := load.Run(context.Background(), func(ctx context.Context, _ int, _ *Recorder) error {
		<-ctx.Done() // never answers
		return ctx.Err()
	})
	if res.OK != 0 || res.Failed != 10 {
		t.Errorf("OK %d, Failed %d; want 0 and all 10", res.OK, res.Failed)
	}
}

func TestClosedLoop(t *testing.T) {
	load := ClosedLoop{Workers: 2, Warmup: 20 * time.Millisecond, Duration: 100 * time.Millisecond}
	res := load.Run(context.Background(), func(context.Context, int, *Recorder) error {
		time.Sleep(10 * time.Millisecond)
		return nil
	})
	// Two workers at 10ms (or more, on a busy machine) per operation for 100ms: at most 20,
	// and one more per worker for the operations under way when the window ends.
	if res.OK == 0 || res.OK > 22 {
		t.Errorf("OK = %d, want at most 22", res.OK)
	}
	if res.Latency.P50 < 10*time.Millisecond {
		t.Errorf("p50 %v below the operation's 10ms", res.Latency.P50)
	}
}

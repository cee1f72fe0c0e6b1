package bench

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Op is one operation of a load run (an HTTP request, a WebSocket handshake or message round
// trip) done by worker, which owns its connections. It returns nil on success, a *StatusError
// for an unexpected answer and any other error for a transport failure; it calls rec.Retry
// when it had to send again. Op bounds its own I/O and gives up by ctx's deadline, if any.
type Op func(ctx context.Context, worker int, rec *Recorder) error

// errNotSent counts operations still queued when an open-loop run's drain deadline passed.
var errNotSent = errors.New("not sent before the drain deadline")

// OpenLoop runs operations at a fixed rate, whatever their latency (an open-loop, or
// constant-throughput, load): operation i is due at start + i/Rate, queued until one of the
// Workers is free, and its latency runs from when it was due. A proxy that stalls is charged
// for the whole stall on every operation due meanwhile, avoiding coordinated omission.
type OpenLoop struct {
	// Rate is operations per second.
	Rate float64
	// Warmup runs at Rate before the measured Duration; its operations are not counted.
	Warmup, Duration time.Duration
	// Workers is how many operations may be in flight: the connection pool size.
	Workers int
	// Drain bounds how long operations may run after the schedule ends; whatever has not
	// been sent by then fails.
	Drain time.Duration
}

// Run runs the schedule and returns the outcomes of the measured operations.
func (o OpenLoop) Run(ctx context.Context, op Op) LoadResult {
	start := time.Now().Add(10 * time.Millisecond)
	measureFrom := start.Add(o.Warmup)
	end := measureFrom.Add(o.Duration)
	deadline := end.Add(o.Drain)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	queue := make(chan time.Time, 1<<16)
	recs := make([]*Recorder, o.Workers)
	var wg sync.WaitGroup
	for w := range o.Workers {
		rec, warm := &Recorder{}, &Recorder{discard: true}
		recs[w] = rec
		wg.Go(func() {
			for due := range queue {
				r := rec
				if due.Before(measureFrom) {
					r = warm
				}
				if ctx.Err() != nil {
					r.record(0, errNotSent, false)
					continue
				}
				err := op(ctx, w, r)
				done := time.Now()
				r.record(done.Sub(due), err, done.Before(end))
			}
		})
	}
	total := int64(o.Rate * (o.Warmup + o.Duration).Seconds())
	interval := float64(time.Second) / o.Rate
schedule:
	for i := range total {
		due := start.Add(time.Duration(float64(i) * interval))
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		select {
		case queue <- due:
		case <-ctx.Done():
			break schedule
		}
	}
	close(queue)
	wg.Wait()
	return mergeRecorders(recs, o.Duration, o.Rate)
}

// ClosedLoop runs operations back to back on each of Workers for Warmup + Duration: as many
// as the target sustains. Latency runs from each operation's start.
type ClosedLoop struct {
	// Workers is the concurrency.
	Workers int
	// Warmup runs before the measured Duration; its operations are not counted.
	Warmup, Duration time.Duration
}

// Run runs the loop and returns the outcomes of the operations started after the warm-up.
func (c ClosedLoop) Run(ctx context.Context, op Op) LoadResult {
	measureFrom := time.Now().Add(c.Warmup)
	end := measureFrom.Add(c.Duration)
	recs := make([]*Recorder, c.Workers)
	var wg sync.WaitGroup
	for w := range c.Workers {
		rec, warm := &Recorder{}, &Recorder{discard: true}
		recs[w] = rec
		wg.Go(func() {
			for ctx.Err() == nil {
				began := time.Now()
				if !began.Before(end) {
					return
				}
				r := rec
				if began.Before(measureFrom) {
					r = warm
				}
				err := op(ctx, w, r)
				done := time.Now()
				r.record(done.Sub(began), err, done.Before(end))
			}
		})
	}
	wg.Wait()
	return mergeRecorders(recs, c.Duration, 0)
}

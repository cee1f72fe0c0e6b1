// Package coarse is a clock that is read with one atomic load and advanced by a ticker. The
// gateway's own HTTP/1.1 path arms connection deadlines from it lazily, at most once per tick
// per connection, instead of reading the clock and resetting a runtime timer on every read
// and write: with keep-alive connections carrying hundreds of requests a second, that turns a
// per-request cost into a per-tick one.
//
// A deadline armed from it for a timeout d is at least d after the real time (it adds one
// tick for the clock's lag) and at most d plus two ticks after it.
package coarse

import (
	"sync/atomic"
	"time"
)

// Clock is a coarse clock. Start it before use and Stop it when done.
type Clock struct {
	tick time.Duration
	now  atomic.Int64 // unix nanoseconds, at most one tick behind
	stop chan struct{}
}

// Start returns a clock advanced every tick.
func Start(tick time.Duration) *Clock {
	c := &Clock{tick: tick, stop: make(chan struct{})}
	c.now.Store(time.Now().UnixNano())
	go c.run()
	return c
}

func (c *Clock) run() {
	t := time.NewTicker(c.tick)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			c.now.Store(now.UnixNano())
		}
	}
}

// Stop stops advancing the clock.
func (c *Clock) Stop() { close(c.stop) }

// Now is the clock's time in unix nanoseconds: it changes once per tick.
func (c *Clock) Now() int64 { return c.now.Load() }

// Deadline returns a deadline for a wait of d that starts at the clock's time now: never
// earlier than d after the real time.
func (c *Clock) Deadline(now int64, d time.Duration) time.Time {
	return time.Unix(0, now+int64(d+c.tick))
}

// Since is the time elapsed from start (a Now) to the clock's time, give or take a tick.
func (c *Clock) Since(start int64) time.Duration { return time.Duration(c.now.Load() - start) }

// Lazy arms one deadline of a connection (its read or its write deadline) lazily: at most
// once per tick for the same timeout.
type Lazy struct {
	at      int64 // the clock's time when last armed
	timeout time.Duration
}

// Arm calls set with the deadline of a wait of d starting now, unless it did already at this
// tick of c for the same d.
func (l *Lazy) Arm(c *Clock, d time.Duration, set func(time.Time)) {
	now := c.Now()
	if now == l.at && d == l.timeout {
		return
	}
	l.at, l.timeout = now, d
	set(c.Deadline(now, d))
}

// Reset forgets the last arming, so the next Arm sets the deadline.
func (l *Lazy) Reset() { l.at = 0 }

package coarse

import (
	"testing"
	"time"
)

// TestDeadlineNeverEarly: a deadline for a wait of d is at least d after the real time, and at
// most two ticks later.
func TestDeadlineNeverEarly(t *testing.T) {
	const tick, d = 20 * time.Millisecond, time.Second
	c := Start(tick)
	defer c.Stop()
	for range 5 {
		wall := time.Now()
		got := c.Deadline(c.Now(), d)
		if got.Before(wall.Add(d)) || got.After(wall.Add(d+2*tick)) {
			t.Fatalf("deadline %v after now, want %v to %v", got.Sub(wall), d, d+2*tick)
		}
		time.Sleep(7 * time.Millisecond)
	}
}

// TestLazy: Arm sets the deadline once per tick for one timeout, again for another timeout,
// after Reset, and at the next tick.
func TestLazy(t *testing.T) {
	c := &Clock{tick: time.Hour} // advanced by hand
	c.now.Store(1000)
	var l Lazy
	var set []time.Time
	arm := func(d time.Duration) { l.Arm(c, d, func(at time.Time) { set = append(set, at) }) }
	arm(time.Second)
	arm(time.Second)
	if len(set) != 1 {
		t.Fatalf("armed %d times in one tick for one timeout, want 1", len(set))
	}
	arm(2 * time.Second)
	if len(set) != 2 || !set[1].Equal(c.Deadline(1000, 2*time.Second)) {
		t.Fatalf("another timeout: %v", set)
	}
	l.Reset()
	arm(2 * time.Second)
	c.now.Store(2000)
	arm(2 * time.Second)
	if len(set) != 4 || !set[3].Equal(c.Deadline(2000, 2*time.Second)) {
		t.Fatalf("after Reset and at the next tick: %v", set)
	}
	if got := c.Since(500); got != 1500 {
		t.Fatalf("Since: %v", got)
	}
}

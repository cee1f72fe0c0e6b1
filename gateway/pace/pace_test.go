package pace

import (
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func TestSpread(t *testing.T) {
	end := t0.Add(2 * time.Second)
	const n = 10
	for i := range n {
		got := Spread(t0, end, i, n)
		want := t0.Add(100*time.Millisecond + time.Duration(i)*200*time.Millisecond)
		if got.Sub(want).Abs() > time.Microsecond {
			t.Fatalf("close %d at %v, want %v", i, got.Sub(t0), want.Sub(t0))
		}
	}
	if got := Spread(t0, t0.Add(time.Second), 0, 1); got != t0.Add(500*time.Millisecond) {
		t.Fatalf("single close at %v, want the middle", got.Sub(t0))
	}
	if got := Spread(t0, t0.Add(-time.Second), 3, 5); got != t0 {
		t.Fatalf("window over: %v, want start", got)
	}
	if got := Spread(t0, t0, 0, 1); got != t0 {
		t.Fatalf("empty window: %v, want start", got)
	}
}

func TestRetryAfter(t *testing.T) {
	fixed := func(v int) func(int) int { return func(int) int { return v } }
	cases := []struct {
		name        string
		base, limit time.Duration
		draw        int
		want        int
	}{
		{"lowest draw", 3 * time.Second, 30 * time.Second, 0, 1},
		{"highest draw", 3 * time.Second, 30 * time.Second, 5, 6},
		{"sub-second base rounds up", 200 * time.Millisecond, 30 * time.Second, 1, 2},
		{"zero base is one second", 0, 30 * time.Second, 0, 1},
		{"capped", time.Hour, 30 * time.Second, 59, 30},
		{"no cap below a second", 10 * time.Second, 0, 19, 20},
	}
	for _, c := range cases {
		if got := RetryAfter(c.base, c.limit, fixed(c.draw)); got != c.want {
			t.Errorf("%s: got %d, want %d", c.name, got, c.want)
		}
	}
	// The draw range is 2*base seconds.
	var n int
	RetryAfter(4*time.Second, time.Minute, func(k int) int { n = k; return 0 })
	if n != 8 {
		t.Fatalf("draws from [0,%d), want [0,8)", n)
	}
}

func TestBucket(t *testing.T) {
	b := NewBucket(10, 10)
	admitted := 0
	for range 25 {
		if b.Allow(t0) {
			admitted++
		}
	}
	if admitted != 10 {
		t.Fatalf("burst admitted %d, want 10", admitted)
	}
	// 10 per second: 100ms gives one token, 1s refills the burst but no more.
	if !b.Allow(t0.Add(100*time.Millisecond)) || b.Allow(t0.Add(100*time.Millisecond)) {
		t.Fatal("100ms should add exactly one token")
	}
	admitted = 0
	for range 30 {
		if b.Allow(t0.Add(10 * time.Second)) {
			admitted++
		}
	}
	if admitted != 10 {
		t.Fatalf("after a long pause admitted %d, want the burst of 10", admitted)
	}
	if b.Allow(t0) {
		t.Fatal("time going backwards must not add tokens")
	}
}

func TestBucketRate(t *testing.T) {
	b := NewBucket(0, 1)
	for range 1000 {
		if !b.Allow(t0) {
			t.Fatal("rate 0 is unlimited")
		}
	}
	b.SetRate(2, 2)
	if n := countAdmitted(b, t0, 5); n != 2 {
		t.Fatalf("after SetRate(2, 2) an unlimited bucket starts full: admitted %d of 5, want 2", n)
	}
	b.SetRate(1, 1)
	if b.Allow(t0) {
		t.Fatal("a limited bucket keeps its (empty) tokens on a rate change")
	}
	// Over 10 seconds at 1/s: 10 admitted, evenly.
	admitted := 0
	for ms := 0; ms < 10000; ms += 10 {
		if b.Allow(t0.Add(time.Duration(ms) * time.Millisecond)) {
			admitted++
		}
	}
	if admitted < 9 || admitted > 11 {
		t.Fatalf("admitted %d in 10s at 1/s", admitted)
	}
}

// countAdmitted counts how many of n events at now b admits.
func countAdmitted(b *Bucket, now time.Time, n int) int {
	count := 0
	for range n {
		if b.Allow(now) {
			count++
		}
	}
	return count
}

func TestBucketRateChangeKeepsTokens(t *testing.T) {
	b := NewBucket(10, 10)
	if n := countAdmitted(b, t0, 4); n != 4 {
		t.Fatalf("admitted %d of 4 from a full bucket", n)
	}
	// Six tokens saved; a smaller burst keeps only three of them.
	b.SetRate(10, 3)
	if n := countAdmitted(b, t0, 10); n != 3 {
		t.Fatalf("after SetRate(10, 3) admitted %d, want the 3 saved tokens the new burst keeps", n)
	}
	// The new rate counts from the last event: half a second at 4/s is two tokens.
	b.SetRate(4, 3)
	if n := countAdmitted(b, t0.Add(500*time.Millisecond), 10); n != 2 {
		t.Fatalf("half a second at 4/s admitted %d, want 2", n)
	}
	// Unlimited again, then limited: full.
	b.SetRate(0, 3)
	b.SetRate(4, 3)
	if n := countAdmitted(b, t0.Add(500*time.Millisecond), 10); n != 3 {
		t.Fatalf("a bucket limited again after being unlimited admitted %d, want its burst of 3", n)
	}
}

func TestBucketBurstAtLeastOne(t *testing.T) {
	b := NewBucket(5, 0)
	if n := countAdmitted(b, t0, 3); n != 1 {
		t.Fatalf("burst 0 admitted %d at once, want 1", n)
	}
	if n := countAdmitted(b, t0.Add(time.Second), 10); n != 1 {
		t.Fatalf("a second later admitted %d, want 1 (the burst caps the saved tokens)", n)
	}
}

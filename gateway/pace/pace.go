// Package pace holds the gateway's time arithmetic: spreading connection closes evenly over a
// window, token buckets that admit new connections at a bounded rate, and the jittered
// Retry-After of held requests. It does no I/O and reads no clock: callers pass the time.
package pace

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Spread returns when the i-th of n closes (0-based) happens when n closes are spread evenly
// over [start, end): at the midpoints start + (2i+1)(end-start)/(2n). Neighbours are
// (end-start)/n apart, the first is half a gap after start and the last half a gap before end,
// so every close happens inside the window. A window that is empty or already over gives
// start for every close.
func Spread(start, end time.Time, i, n int) time.Time {
	window := end.Sub(start)
	if window <= 0 || n <= 0 {
		return start
	}
	offset := time.Duration(float64(window) * (2*float64(i) + 1) / (2 * float64(n)))
	return start.Add(offset)
}

// RetryAfter returns the seconds of a jittered Retry-After for a hold expected to last about
// base: uniform in [1, 2*ceil(base)] seconds and at most limit (when limit is at least a
// second), so that the clients of a held member spread their retries. intn returns a uniform
// integer in [0, n), such as math/rand/v2's IntN.
func RetryAfter(base, limit time.Duration, intn func(n int) int) int {
	secs := int(math.Ceil(base.Seconds()))
	secs = max(secs, 1)
	maxSecs := int(limit / time.Second)
	if maxSecs >= 1 {
		secs = min(secs, maxSecs)
	}
	v := 1 + intn(2*secs)
	if maxSecs >= 1 {
		v = min(v, maxSecs)
	}
	return v
}

// Bucket is a token bucket: it admits up to burst events at once and rate events per second
// on average. A rate of 0 admits everything. It is safe for concurrent use. The token arithmetic
// is golang.org/x/time/rate's; Bucket adds what the gateway needs around it: rate 0 as unlimited,
// a burst of at least one, and rate changes without a clock, taking effect at the last event.
type Bucket struct {
	mu      sync.Mutex
	limiter *rate.Limiter // nil while unlimited
	last    time.Time     // latest time Allow was given; the limiter's clock
}

// NewBucket returns a full bucket admitting rate events per second with bursts of burst
// (at least 1).
func NewBucket(rate float64, burst int) *Bucket {
	b := &Bucket{}
	b.SetRate(rate, burst)
	return b
}

// SetRate changes the rate and burst, keeping the tokens already saved (up to the new burst).
// A bucket that was unlimited starts full.
func (b *Bucket) SetRate(perSecond float64, burst int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	burst = max(burst, 1)
	switch {
	case perSecond <= 0:
		b.limiter = nil
	case b.limiter == nil:
		b.limiter = rate.NewLimiter(rate.Limit(perSecond), burst)
	case b.limiter.Limit() != rate.Limit(perSecond) || b.limiter.Burst() != burst:
		// At the last event no time has passed, so the saved tokens carry over unchanged.
		b.limiter.SetLimitAt(b.last, rate.Limit(perSecond))
		b.limiter.SetBurstAt(b.last, burst)
	}
}

// Allow takes a token at now and reports whether there was one. Time going backwards adds no
// tokens.
func (b *Bucket) Allow(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.limiter == nil {
		return true
	}
	// The limiter is given no time before one it saw: rate.Limiter would count the skipped-back
	// interval again.
	if now.After(b.last) {
		b.last = now
	}
	return b.limiter.AllowN(b.last, 1)
}

package loadgen

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// backoff computes reconnect delays: exponential with full jitter, so the delay before the
// n-th consecutive retry is uniform in [0, min(max, min*2^n)).
type backoff struct {
	min, max time.Duration
	attempt  int
	random   func(n int64) int64 // uniform in [0, n)
}

func newBackoff(lo, hi time.Duration) *backoff {
	return &backoff{min: lo, max: hi, random: rand.Int64N}
}

// next returns the next delay and doubles the ceiling for the one after.
func (b *backoff) next() time.Duration {
	ceiling := b.min
	for i := 0; i < b.attempt && ceiling < b.max; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, b.max)
	b.attempt++
	if ceiling <= 0 {
		return 0
	}
	return time.Duration(b.random(int64(ceiling)))
}

// reset starts over after a successful connection.
func (b *backoff) reset() { b.attempt = 0 }

// retryAfter parses a Retry-After header, in seconds or as an HTTP date relative to now. It
// returns 0 for a missing, malformed or past value.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 32); err == nil {
		return time.Duration(max(secs, 0)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

package loadgen

import (
	"net/http"
	"testing"
	"time"
)

func TestBackoffIsExponentialWithFullJitter(t *testing.T) {
	const ms = time.Millisecond
	b := newBackoff(100*ms, 1*time.Second)
	var ceilings []time.Duration
	b.random = func(n int64) int64 {
		ceilings = append(ceilings, time.Duration(n))
		return n - 1
	}
	for range 6 {
		b.next()
	}
	b.reset()
	if got := b.next(); got != 100*ms-1 {
		t.Errorf("after reset next = %v, want just under 100ms", got)
	}
	want := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1000 * ms, 1000 * ms, 100 * ms}
	if len(ceilings) != len(want) {
		t.Fatalf("ceilings %v, want %v", ceilings, want)
	}
	for i := range want {
		if ceilings[i] != want[i] {
			t.Errorf("ceilings %v, want %v", ceilings, want)
			break
		}
	}

	b = newBackoff(100*ms, 5*time.Second)
	b.attempt = 1000 // no overflow
	for range 100 {
		if d := b.next(); d < 0 || d >= 5*time.Second {
			t.Fatalf("next = %v, want in [0, 5s)", d)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		value string
		want  time.Duration
	}{
		{"", 0},
		{"1", time.Second},
		{" 7 ", 7 * time.Second},
		{"0", 0},
		{"-3", 0},
		{"soon", 0},
		{"99999999999999999999", 0},
		{now.Add(10 * time.Second).Format(http.TimeFormat), 10 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	} {
		h := http.Header{}
		if tc.value != "" {
			h.Set("Retry-After", tc.value)
		}
		if got := retryAfter(h, now); got != tc.want {
			t.Errorf("Retry-After %q = %v, want %v", tc.value, got, tc.want)
		}
	}
}

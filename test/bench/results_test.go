package bench

import (
	"errors"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	lat := make([]time.Duration, 1000)
	for i := range lat {
		lat[i] = time.Duration(1000-i) * time.Millisecond // 1000ms .. 1ms, unsorted
	}
	got := Summarize(lat)
	want := Latency{P50: 500 * time.Millisecond, P90: 900 * time.Millisecond, P99: 990 * time.Millisecond,
		P999: 999 * time.Millisecond, Max: 1000 * time.Millisecond}
	if got != want {
		t.Errorf("Summarize = %+v, want %+v", got, want)
	}
	if (Summarize(nil) != Latency{}) {
		t.Error("Summarize(nil) is not zero")
	}
}

func TestRecorders(t *testing.T) {
	a, b, warm := &Recorder{}, &Recorder{}, &Recorder{discard: true}
	a.record(time.Millisecond, nil, true)
	a.record(3*time.Millisecond, nil, false) // completed after the window
	b.record(2*time.Millisecond, nil, true)
	b.record(time.Second, &StatusError{Code: 503}, true)
	b.record(0, errors.New("connection refused"), true)
	b.record(0, errors.New("connection refused"), true)
	b.Retry()
	warm.record(time.Hour, nil, true)
	warm.Retry()

	got := mergeRecorders([]*Recorder{a, b, warm}, time.Second, 100)
	if got.OK != 3 || got.Throughput != 2 || got.BadStatus != 1 || got.Failed != 2 || got.Retries != 1 {
		t.Errorf("counts: %+v", got)
	}
	if got.Latency.Max != 3*time.Millisecond || got.Latency.P50 != 2*time.Millisecond {
		t.Errorf("latency: %+v", got.Latency)
	}
	if len(got.Errors) != 2 {
		t.Errorf("errors %q, want the two distinct ones", got.Errors)
	}
}

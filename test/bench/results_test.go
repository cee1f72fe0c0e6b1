package bench

import (
	"errors"
	"maps"
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

// perfOutput is `perf stat -x, -e raw_syscalls:sys_enter -e syscalls:sys_enter_... -D -1
// --control ... -p ...` as perf 6.1 prints it, attached to nginx's master and two workers under
// wrk, enabled and disabled once.
const perfOutput = `Events disabled
Events enabled
Events disabled
570790,,raw_syscalls:sys_enter,1991493795,100.00,,
0,,syscalls:sys_enter_read,1991473775,100.00,,
261503,,syscalls:sys_enter_writev,1991473775,100.00,,
261503,,syscalls:sys_enter_recvfrom,1991465673,100.00,,
47783,,syscalls:sys_enter_epoll_wait,1991440105,100.00,,
<not counted>,,syscalls:sys_enter_futex,0,100.00,,
`

func TestParsePerfStat(t *testing.T) {
	got, err := ParsePerfStat([]byte(perfOutput))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"read": 0, "writev": 261503, "recvfrom": 261503, "epoll_wait": 47783, "futex": 0}
	if got.Total != 570790 || got.Window != 1991493795*time.Nanosecond || !maps.Equal(got.ByCall, want) {
		t.Errorf("ParsePerfStat = %+v", got)
	}
	if got.Other() != 1 {
		t.Errorf("Other = %d, want the one call not named", got.Other())
	}
	// Counters start one after the other: named calls may outnumber the total by a few.
	if (SyscallCounts{Total: 10, ByCall: map[string]int64{"read": 11}}).Other() != 0 {
		t.Error("Other is negative")
	}
	for name, out := range map[string]string{
		"no total":      "5,,syscalls:sys_enter_read,100,100.00,,\n",
		"not supported": "<not supported>,,raw_syscalls:sys_enter,0,100.00,,\n",
		"not CSV":       "   570790      raw_syscalls:sys_enter\n",
		"bad count":     "5x,,raw_syscalls:sys_enter,100,100.00,,\n",
	} {
		if _, err := ParsePerfStat([]byte(out)); err == nil {
			t.Errorf("%s: no error for %q", name, out)
		}
	}
}

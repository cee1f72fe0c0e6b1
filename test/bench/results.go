package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Latency summarises a set of latencies.
type Latency struct {
	P50  time.Duration `json:"p50"`
	P90  time.Duration `json:"p90"`
	P99  time.Duration `json:"p99"`
	P999 time.Duration `json:"p999"`
	Max  time.Duration `json:"max"`
}

// Summarize returns the percentiles of lat (nearest rank); it sorts lat.
func Summarize(lat []time.Duration) Latency {
	if len(lat) == 0 {
		return Latency{}
	}
	slices.Sort(lat)
	rank := func(q float64) time.Duration {
		i := int(q*float64(len(lat))+0.999999) - 1
		return lat[min(max(i, 0), len(lat)-1)]
	}
	return Latency{P50: rank(0.50), P90: rank(0.90), P99: rank(0.99), P999: rank(0.999), Max: lat[len(lat)-1]}
}

// LoadResult is the outcome of a load run: httpload, and wsbench's upgrades and rtt modes.
// Only operations scheduled (open loop) or started (closed loop) after the warm-up count.
type LoadResult struct {
	// Rate is the intended rate per second of an open-loop run; 0 for a closed loop.
	Rate float64 `json:"rate"`
	// Window is the measured duration.
	Window time.Duration `json:"window"`
	// OK counts operations that succeeded; Latency summarises them.
	OK int64 `json:"ok"`
	// Throughput is the operations that succeeded within Window, per second: below Rate when
	// the target cannot keep up (the rest complete late, during the drain).
	Throughput float64 `json:"throughput"`
	// BadStatus counts answers with an unexpected status (not 2xx for HTTP, not 101 for upgrades).
	BadStatus int64 `json:"badStatus"`
	// Failed counts transport errors: refused, reset, timed out, or not sent before the deadline.
	Failed int64 `json:"failed"`
	// Retries counts requests sent again on a new connection because the proxy closed a
	// keep-alive connection before answering, as browsers and HTTP client libraries do.
	Retries int64 `json:"retries"`
	// Latency is measured from the intended send time for open-loop runs, so a stalled
	// proxy is charged for every request that should have been sent meanwhile.
	Latency Latency `json:"latency"`
	// Errors are samples of the distinct errors, at most maxErrorSamples.
	Errors []string `json:"errors,omitempty"`
}

// IdleResult is the outcome of wsbench's idle mode.
type IdleResult struct {
	// Conns is how many WebSockets were open during the measurement; Failed how many failed to open.
	Conns  int `json:"conns"`
	Failed int `json:"failed"`
	// RSSBefore and RSSAfter are the proxy processes' summed VmRSS in bytes, before the
	// connections were opened and once they were open and settled.
	RSSBefore int64 `json:"rssBefore"`
	RSSAfter  int64 `json:"rssAfter"`
	// BytesPerConn is (RSSAfter - RSSBefore) / Conns.
	BytesPerConn float64 `json:"bytesPerConn"`
	// Echoed counts connections that echoed a message after the measurement, proving
	// they were proxied end to end.
	Echoed int `json:"echoed"`
}

// StatusError is an answer with an unexpected status code.
type StatusError struct{ Code int }

func (e *StatusError) Error() string { return fmt.Sprintf("status %d", e.Code) }

// maxErrorSamples bounds LoadResult.Errors.
const maxErrorSamples = 5

// Recorder collects the outcomes of one load worker. Workers have one each, so recording
// takes no lock; merge them with mergeRecorders.
type Recorder struct {
	discard   bool // warm-up: count nothing
	lat       []time.Duration
	inWindow  int64 // successes completed before the measured window ended
	badStatus int64
	failed    int64
	retries   int64
	errs      []string
}

// Retry counts a request sent again on a new connection.
func (r *Recorder) Retry() {
	if !r.discard {
		r.retries++
	}
}

// record counts an operation that took d and ended with err, inWindow if it ended before
// the measured window did.
func (r *Recorder) record(d time.Duration, err error, inWindow bool) {
	if r.discard {
		return
	}
	var se *StatusError
	switch {
	case err == nil:
		r.lat = append(r.lat, d)
		if inWindow {
			r.inWindow++
		}
		return
	case errors.As(err, &se):
		r.badStatus++
	default:
		r.failed++
	}
	if msg := err.Error(); len(r.errs) < maxErrorSamples && !slices.Contains(r.errs, msg) {
		r.errs = append(r.errs, msg)
	}
}

// mergeRecorders sums the recorders of a run whose measured part lasted window.
func mergeRecorders(recs []*Recorder, window time.Duration, rate float64) LoadResult {
	res := LoadResult{Rate: rate, Window: window}
	var lat []time.Duration
	var inWindow int64
	for _, r := range recs {
		lat = append(lat, r.lat...)
		inWindow += r.inWindow
		res.BadStatus += r.badStatus
		res.Failed += r.failed
		res.Retries += r.retries
		for _, e := range r.errs {
			if len(res.Errors) < maxErrorSamples && !slices.Contains(res.Errors, e) {
				res.Errors = append(res.Errors, e)
			}
		}
	}
	res.OK = int64(len(lat))
	res.Throughput = float64(inWindow) / window.Seconds()
	res.Latency = Summarize(lat)
	return res
}

// SyscallCounts are the system calls a proxy's processes made while `perf stat` was attached
// to them, as ParsePerfStat reads them.
type SyscallCounts struct {
	// Window is how long the counters ran (perf's enabled time of the total).
	Window time.Duration `json:"window"`
	// Total counts every system call (the raw_syscalls:sys_enter tracepoint).
	Total int64 `json:"total"`
	// ByCall counts the calls that had a tracepoint of their own among perf's events
	// (syscalls:sys_enter_NAME), by NAME; calls without one are only in Total.
	ByCall map[string]int64 `json:"byCall"`
}

// PerfTotalEvent is the tracepoint that counts every system call.
const PerfTotalEvent = "raw_syscalls:sys_enter"

// PerfCallEvent is the tracepoint that counts the system call called name.
func PerfCallEvent(name string) string { return "syscalls:sys_enter_" + name }

// ParsePerfStat reads the output of `perf stat -x, -e raw_syscalls:sys_enter -e
// syscalls:sys_enter_NAME ...`: one CSV line per event, "count,unit,event,enabled ns,percent,...",
// among other lines. Events perf reports as "<not counted>" (their tasks never ran while it
// counted) count 0.
func ParsePerfStat(out []byte) (SyscallCounts, error) {
	c := SyscallCounts{ByCall: map[string]int64{}}
	seenTotal := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ",")
		if len(f) < 4 {
			continue // not a count: "Events enabled" and the like
		}
		var n int64
		switch count := f[0]; count {
		case "<not counted>":
		case "<not supported>":
			return c, fmt.Errorf("perf stat: %s is not supported here", f[2])
		default:
			var err error
			if n, err = strconv.ParseInt(count, 10, 64); err != nil {
				return c, fmt.Errorf("perf stat line %q: %w", line, err)
			}
		}
		event := f[2]
		if name, ok := strings.CutPrefix(event, PerfCallEvent("")); ok {
			c.ByCall[name] = n
			continue
		}
		if event != PerfTotalEvent {
			continue
		}
		seenTotal = true
		c.Total = n
		if ns, err := strconv.ParseFloat(f[3], 64); err == nil {
			c.Window = time.Duration(ns)
		}
	}
	if err := sc.Err(); err != nil {
		return c, err
	}
	if !seenTotal {
		return c, fmt.Errorf("perf stat output lacks %s:\n%s", PerfTotalEvent, out)
	}
	return c, nil
}

// Other counts the calls in Total that ByCall does not name. The counters start one after the
// other, so it is not below 0 even when the named calls outnumber the total by a few.
func (c SyscallCounts) Other() int64 {
	other := c.Total
	for _, n := range c.ByCall {
		other -= n
	}
	return max(other, 0)
}

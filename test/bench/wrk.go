package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// WrkResult is what the harness reads from wrk's output (run with --latency).
type WrkResult struct {
	// Requests is the number of requests completed; Throughput is wrk's Requests/sec.
	Requests   int64   `json:"requests"`
	Throughput float64 `json:"throughput"`
	// P50 and P99 are from wrk's latency distribution.
	P50 time.Duration `json:"p50"`
	P99 time.Duration `json:"p99"`
	// Non2xx counts "Non-2xx or 3xx responses"; SocketErrors sums connect, read, write and
	// timeout errors.
	Non2xx       int64 `json:"non2xx"`
	SocketErrors int64 `json:"socketErrors"`
}

var (
	wrkPercentile = regexp.MustCompile(`^\s*(50|99)%\s+(\S+)\s*$`)
	wrkRequests   = regexp.MustCompile(`^\s*(\d+) requests in `)
	wrkRate       = regexp.MustCompile(`^Requests/sec:\s+([0-9.]+)`)
	wrkNon2xx     = regexp.MustCompile(`^\s*Non-2xx or 3xx responses:\s+(\d+)`)
	wrkSocket     = regexp.MustCompile(`^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// ParseWrk reads the output of `wrk --latency`.
func ParseWrk(out []byte) (WrkResult, error) {
	var r WrkResult
	var seenRate, seen50, seen99 bool
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		var err error
		if m := wrkPercentile.FindStringSubmatch(line); m != nil {
			var d time.Duration
			if d, err = parseWrkDuration(m[2]); m[1] == "50" {
				r.P50, seen50 = d, true
			} else {
				r.P99, seen99 = d, true
			}
		} else if m := wrkRequests.FindStringSubmatch(line); m != nil {
			r.Requests, err = strconv.ParseInt(m[1], 10, 64)
		} else if m := wrkRate.FindStringSubmatch(line); m != nil {
			r.Throughput, err = strconv.ParseFloat(m[1], 64)
			seenRate = true
		} else if m := wrkNon2xx.FindStringSubmatch(line); m != nil {
			r.Non2xx, err = strconv.ParseInt(m[1], 10, 64)
		} else if m := wrkSocket.FindStringSubmatch(line); m != nil {
			for _, s := range m[1:] {
				var n int64
				if n, err = strconv.ParseInt(s, 10, 64); err != nil {
					break
				}
				r.SocketErrors += n
			}
		}
		if err != nil {
			return r, fmt.Errorf("wrk output line %q: %w", line, err)
		}
	}
	if !seenRate || !seen50 || !seen99 {
		return r, fmt.Errorf("wrk output lacks Requests/sec or the latency distribution (run with --latency):\n%s", out)
	}
	return r, nil
}

// parseWrkDuration parses wrk's durations: 812.00us, 1.52ms, 2.01s, 1.00m.
func parseWrkDuration(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, err
			}
			return time.Duration(math.Round(v * float64(u.unit))), nil
		}
	}
	return 0, fmt.Errorf("unknown duration %q", s)
}

package bench

import (
	"strings"
	"testing"
	"time"
)

const wrkOutput = `Running 10s test @ http://127.0.78.1:18001/
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.05ms    1.31ms  38.59ms   90.12%
    Req/Sec    15.98k     1.02k   18.10k    71.50%
  Latency Distribution
     50%    1.77ms
     75%    2.31ms
     90%    3.02ms
     99%  812.00us
  318045 requests in 10.00s, 48.53MB read
  Socket errors: connect 1, read 2, write 3, timeout 4
  Non-2xx or 3xx responses: 12
Requests/sec:  31787.49
Transfer/sec:      4.85MB
`

func TestParseWrk(t *testing.T) {
	got, err := ParseWrk([]byte(wrkOutput))
	if err != nil {
		t.Fatal(err)
	}
	want := WrkResult{Requests: 318045, Throughput: 31787.49, P50: 1770 * time.Microsecond,
		P99: 812 * time.Microsecond, Non2xx: 12, SocketErrors: 10}
	if got != want {
		t.Errorf("ParseWrk = %+v, want %+v", got, want)
	}
}

func TestParseWrkNeedsLatency(t *testing.T) {
	out := strings.Replace(wrkOutput, "     99%  812.00us\n", "", 1)
	if _, err := ParseWrk([]byte(out)); err == nil {
		t.Error("ParseWrk accepted output without the 99th percentile")
	}
}

func TestParseWrkDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"812.00us": 812 * time.Microsecond, "1.52ms": 1520 * time.Microsecond,
		"2.01s": 2010 * time.Millisecond, "1.50m": 90 * time.Second,
	} {
		got, err := parseWrkDuration(in)
		if err != nil || got != want {
			t.Errorf("parseWrkDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseWrkDuration("3 parsecs"); err == nil {
		t.Error("parseWrkDuration accepted an unknown unit")
	}
}

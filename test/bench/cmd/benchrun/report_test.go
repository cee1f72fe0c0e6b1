package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stablering/stablering/test/bench"
)

// TestWriteReport renders a report from made-up results and checks every figure is there
// and every number could be formatted.
func TestWriteReport(t *testing.T) {
	cfg := presets(false)
	res := &results{cfg: cfg, start: time.Now(), end: time.Now().Add(time.Minute), fixedRate: 5000, ringRate: 2000,
		machine: machine{CPUs: 2, NoFile: 20000, Ports: 28232}, perProcess: 9000, perBackend: 12666}
	load := func(tput float64, p99 time.Duration) []bench.LoadResult {
		return []bench.LoadResult{{Throughput: tput, Latency: bench.Latency{P99: p99}}, {Throughput: tput * 1.1, Latency: bench.Latency{P99: p99 * 2}}}
	}
	res.http, res.fixed, res.upgrades, res.rtt = map[string][]bench.WrkResult{}, map[string][]bench.LoadResult{}, map[string][]bench.LoadResult{}, map[string][]bench.LoadResult{}
	res.ringSteady, res.ring = map[string][]bench.LoadResult{}, map[string][]ringRun{}
	set := idleSet{Conns: 50000, Instances: 6, Groups: 1, ByProxy: map[string][]bench.IdleResult{}}
	big := idleSet{Conns: 100000, Instances: 12, Groups: 2, Took: 5*time.Minute + 12*time.Second, ByProxy: map[string][]bench.IdleResult{}}
	for i, tg := range []string{direct, nginx, haproxy, gw} {
		f := float64(4 - i)
		res.http[tg] = []bench.WrkResult{{Throughput: 10000 * f, P99: time.Millisecond}, {Throughput: 11000 * f, P99: 2 * time.Millisecond}}
		res.fixed[tg] = load(5000, time.Millisecond*time.Duration(i+1))
		res.upgrades[tg] = load(1000*f, 10*time.Millisecond)
		res.rtt[tg] = load(5000, time.Millisecond)
		if tg != direct {
			res.ringSteady[tg] = load(2000, time.Millisecond)
			res.ring[tg] = []ringRun{{LoadResult: load(2000, 3*time.Millisecond)[0], Changes: 8, Applied: 8}}
			set.ByProxy[tg] = []bench.IdleResult{{Conns: 50000, BytesPerConn: 4096 * f}}
			big.ByProxy[tg] = []bench.IdleResult{{Conns: 100000, BytesPerConn: 2048 * f, Echoed: 100000}}
			for range 2 {
				res.addProxyCPU("http", tg, cpuUse{user: 0.3, system: 0.2})
			}
		}
	}
	res.idle = []idleSet{set, big}
	// The C backend: nginx at 40,000 requests/s, HAProxy at 30,000, the gateway at 20,000;
	// perf counted for 2s of each.
	res.cBackend = cBackendResult{HTTP: map[string][]bench.WrkResult{}, Syscalls: map[string]syscallRun{},
		Profile:    cpuProfile{File: "profiles/cbackend-http.cpu.pprof", Flat: "flat-top-lines", Cum: "cum-top-lines"},
		ProfileWrk: bench.WrkResult{Throughput: 19000, P99: 3 * time.Millisecond}}
	for i, tg := range []string{direct, nginx, haproxy, gw} {
		rate := float64(50000 - 10000*i)
		res.cBackend.HTTP[tg] = []bench.WrkResult{{Throughput: rate, P99: time.Millisecond}, {Throughput: rate, P99: time.Millisecond}}
		if tg == direct {
			continue
		}
		res.addProxyCPU("cbackend", tg, cpuUse{user: 0.2, system: 0.2})
		res.addProxyCPU("cbackend", tg, cpuUse{user: 0.2, system: 0.2})
		reqs := int64(rate * 2)
		byCall := map[string]int64{"recvfrom": 2 * reqs, "writev": 2 * reqs, "epoll_wait": reqs / 10, "futex": reqs / 1000}
		if tg == gw {
			byCall = map[string]int64{"read": 3 * reqs, "write": 2 * reqs, "epoll_pwait": reqs / 2, "futex": reqs / 4}
		}
		total := reqs / 100 // not by name
		for _, n := range byCall {
			total += n
		}
		res.cBackend.Syscalls[tg] = syscallRun{Counts: bench.SyscallCounts{Window: 2 * time.Second, Total: total, ByCall: byCall},
			Wrk: bench.WrkResult{Throughput: rate, Requests: reqs}}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "balancer.md"), []byte("# B\n\n## Balance\n\n| x |\n\n## Cost\n\n### Owner\n\n| y |\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "benchmarks.md")
	if err := writeReport(path, res); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	md := string(data)
	for _, want := range []string{
		"DO NOT EDIT", "## Summary", "## 1. Small HTTP", "## 2. HTTP latency", "## 3. WebSocket upgrades",
		"## 4. Memory per idle", "count\nabove 9,000 is held by several instances", "N = 50,000, over 6 instance(s) of each proxy (0s of this run):\n",
		"N = 100,000, over 12 instance(s) of each proxy in front of 2 groups of backends (5m12s of this run):\n",
		"| RSS per idle WebSocket at 100,000 connections | lower | 6.0 KiB | 4.0 KiB | 0.67× | 2.0 KiB | 0.33× |",
		"| gateway | 2.0 KiB | 0.33× | 0 MiB | 0 MiB | 0 | 100,000 | – |",
		"at most 28,232 connections", "more than 12,666 each on average", "| ephemeral ports | 28232 (net.ipv4.ip_local_port_range) |",
		"## 5. WebSocket message", "## 6. Ring change",
		"## 7. Balancer", "| y |", "## Where the gateway loses", "| gateway | 10,500 (10,000–11,000) | 0.33× | 0.25× |",
		// 0.5 CPUs at 10,000 and 11,000 requests/s, 0.2 of them in the kernel, against
		// nginx's 30,000 and 33,000; the direct row has no proxy.
		"| proxy CPU per request | × nginx | of it in the kernel | others' CPU |",
		"| 0 | 47.7 µs (45.5 µs–50.0 µs) | 3.00× | 19.1 µs (18.2 µs–20.0 µs) | – |",
		"| 0 | – | – | – | – |",
		// Figure 1b: 0.4 CPUs at 20,000 requests/s is 20 µs per request, twice nginx's.
		"## 1b. Small HTTP requests with a C backend",
		"| gateway | 20,000 (20,000–20,000) | 0.50× | 0.40× | 0 µs (0 µs–0 µs) | 1.00 ms (1.00 ms–1.00 ms) | 1.00× | 1.00× | 0 | 20.0 µs (20.0 µs–20.0 µs) | 2.00× | 10.0 µs (10.0 µs–10.0 µs) |",
		"| HTTP requests/s, C backend (figure 1b) | higher | 40,000 | 30,000 | 0.75× | 20,000 | 0.50× | **loses** |",
		"| system calls per HTTP request, C backend (one run) | lower | 4.11 | 4.11 | 1.00× | 5.76 | 1.40× | **loses** |",
		"| system calls per request | nginx | haproxy | gateway |",
		"| **all** | 4.11 | 4.11 | 5.76 |\n| × nginx | 1.00× | 1.00× | 1.40× |\n| `read` | 0.00 | 0.00 | 3.00 |\n| `write` | 0.00 | 0.00 | 2.00 |\n" +
			"| `writev` | 2.00 | 2.00 | 0.00 |\n| `recvfrom` | 2.00 | 2.00 | 0.00 |\n| `epoll_pwait` | 0.00 | 0.00 | 0.50 |\n" +
			"| `futex` | 0.00 | 0.00 | 0.25 |\n| `epoll_wait` | 0.10 | 0.10 | 0.00 |\n| other | 0.01 | 0.01 | 0.01 |\n" +
			"| requests/s while counted | 40,000 | 30,000 | 20,000 |",
		"perf stat -x, -e raw_syscalls:sys_enter,syscalls:sys_enter_read,", "-D -1 --control fifo:ctl.fifo,ack.fifo -p $PROXY_PIDS\n",
		"(19,000 requests/s, p99 3.00 ms while profiled).\n\nThe profile is `profiles/cbackend-http.cpu.pprof` in the work directory",
		"flat-top-lines", "cum-top-lines",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, bad := range []string{"NaN", "Inf", "%!"} {
		if strings.Contains(md, bad) {
			t.Errorf("report contains %q", bad)
		}
	}
}

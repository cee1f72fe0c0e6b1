package main

import (
	"cmp"
	_ "embed" // the hand-written analysis
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/stablering/stablering/test/bench"
)

// analysis is the hand-written explanation of where the gateway loses, and why.
//
//go:embed analysis.md
var analysis string

// results is everything measured in one run.
type results struct {
	cfg                config
	machine            machine
	start, end         time.Time
	loadStart, loadEnd string
	commands           struct{ http, fixed, upgrades, rtt, ring, idle string }

	http                 map[string][]bench.WrkResult
	fixedRate, ringRate  float64
	fixed, upgrades, rtt map[string][]bench.LoadResult
	ringSteady           map[string][]bench.LoadResult
	ring                 map[string][]ringRun
	// other is the share of the CPUs other processes used during each run, by figure/target.
	other map[string][]float64
	// proxyCPU is the CPU the proxy used during each run, by figure/target (none for direct).
	proxyCPU map[string][]cpuUse
	// runs counts the measurements that are repeated when disturbed, repeats the repetitions.
	runs, repeats int
	idle          []idleSet
	// perProcess is how many idle WebSockets one proxy process held at most; perBackend how
	// many one backend process held at most on average (see backendGroups).
	perProcess, perBackend int
	profile                profileResult
	cBackend               cBackendResult
}

// column is a column of a figure's table: one value per repetition per target.
type column struct {
	header string
	vals   func(target string) []float64
	format func(float64) string
	// ratio adds "× nginx" (and "× direct" when the table's direct row has values) after the
	// column.
	ratio bool
	// sum shows the sum over the repetitions instead of the spread (for error counts).
	sum bool
}

// report builds the markdown.
type report struct {
	strings.Builder
	res *results
}

func (r *report) p(format string, args ...any) { fmt.Fprintf(r, format+"\n", args...) }

// table writes one row per target.
func (r *report) table(targets []string, cols []column) {
	withDirect := targets[0] == direct
	head, rule := "| target |", "|---|"
	for _, c := range cols {
		head += " " + c.header + " |"
		rule += "--:|"
		if c.ratio {
			head += " × nginx |"
			rule += "--:|"
			if withDirect && len(c.vals(direct)) > 0 {
				head += " × direct |"
				rule += "--:|"
			}
		}
	}
	r.p("%s\n%s", head, rule)
	for _, t := range targets {
		row := "| " + t + " |"
		for _, c := range cols {
			v := c.vals(t)
			if c.sum {
				row += " " + c.format(total(v)) + " |"
			} else {
				row += " " + cell(v, c.format) + " |"
			}
			if c.ratio {
				row += " " + ratioCell(v, c.vals(nginx)) + " |"
				if base := c.vals(direct); withDirect && len(base) > 0 {
					row += " " + ratioCell(v, base) + " |"
				}
			}
		}
		r.p("%s", row)
	}
	r.p("")
}

// ratioCell is the ratio of the medians of v and base, or "–" when either has no values.
func ratioCell(v, base []float64) string {
	if len(v) == 0 {
		return "–"
	}
	return fmtRatio(median(v), median(base))
}

func (r *report) command(cmd, note string) {
	r.p("Command (`$TARGET` as in [Set-up](#set-up)%s):\n\n```sh\n%s\n```\n", note, cmd)
}

// addOther records the CPU share other processes took during a run of figure against target.
func (res *results) addOther(figure, target string, share float64) {
	if res.other == nil {
		res.other = map[string][]float64{}
	}
	key := figure + "/" + target
	res.other[key] = append(res.other[key], share)
}

// addProxyCPU records the CPU the proxy used during a run of figure against target.
func (res *results) addProxyCPU(figure, target string, use cpuUse) {
	if res.proxyCPU == nil {
		res.proxyCPU = map[string][]cpuUse{}
	}
	key := figure + "/" + target
	res.proxyCPU[key] = append(res.proxyCPU[key], use)
}

// cpuPerOp is the proxy's CPU time per operation (nanoseconds) in each run of figure against
// target: its CPU use over the run divided by the run's achieved rate (rates[i] for run i), in
// user space and the kernel together or, with systemOnly, in the kernel alone. Runs without
// operations have no value.
func (res *results) cpuPerOp(figure, target string, rates []float64, systemOnly bool) []float64 {
	uses := res.proxyCPU[figure+"/"+target]
	var out []float64
	for i, u := range uses[:min(len(uses), len(rates))] {
		if rates[i] <= 0 {
			continue
		}
		busy := u.system
		if !systemOnly {
			busy += u.user
		}
		out = append(out, busy/rates[i]*1e9)
	}
	return out
}

// cpuColumns are the columns of the proxy's CPU time per operation (op: "request",
// "upgrade") in a figure's runs, whose achieved rates are rate.
func (r *report) cpuColumns(figure, op string, rate func(string) []float64) []column {
	perOp := func(systemOnly bool) func(string) []float64 {
		return func(t string) []float64 { return r.res.cpuPerOp(figure, t, rate(t), systemOnly) }
	}
	return []column{
		{header: "proxy CPU per " + op, vals: perOp(false), format: fmtCPU, ratio: true},
		{header: "of it in the kernel", vals: perOp(true), format: fmtCPU},
	}
}

// cpuPerRequest is the proxy's CPU time per request in each wrk run of figure.
func (r *report) cpuPerRequest(runs map[string][]bench.WrkResult, figure string) func(string) []float64 {
	return func(t string) []float64 { return r.res.cpuPerOp(figure, t, wrkValues(runs, wrkRate)(t), false) }
}

// otherColumn is the column of the CPU share other processes took during a figure's runs.
func (r *report) otherColumn(figure string) column {
	return column{header: "others' CPU", vals: func(t string) []float64 { return r.res.other[figure+"/"+t] }, format: fmtPct}
}

// loadTable writes the table of an open-loop load figure: achieved rate, latency percentiles
// (p99 against nginx), errors and the proxy's CPU time per op (a request, a message) per
// target, and the share of the CPUs others took.
func (r *report) loadTable(runs map[string][]bench.LoadResult, figure, op string) {
	cols := []column{
		{header: "achieved/s", vals: loadValues(runs, thrput), format: fmtCount},
		{header: "p50", vals: loadValues(runs, p50), format: fmtDur},
		{header: "p99", vals: loadValues(runs, p99), format: fmtDur, ratio: true},
		{header: "p99.9", vals: loadValues(runs, p999), format: fmtDur},
		{header: "errors", vals: loadValues(runs, errs), format: fmtCount, sum: true},
	}
	cols = append(cols, r.cpuColumns(figure, op, loadValues(runs, thrput))...)
	r.table([]string{direct, nginx, haproxy, gw}, append(cols, r.otherColumn(figure)))
}

func loadValues(m map[string][]bench.LoadResult, f func(bench.LoadResult) float64) func(string) []float64 {
	return func(t string) []float64 { return values(m[t], f) }
}

func p99(r bench.LoadResult) float64    { return float64(r.Latency.P99) }
func p50(r bench.LoadResult) float64    { return float64(r.Latency.P50) }
func p999(r bench.LoadResult) float64   { return float64(r.Latency.P999) }
func errs(r bench.LoadResult) float64   { return float64(r.Failed + r.BadStatus) }
func thrput(r bench.LoadResult) float64 { return r.Throughput }

// writeReport writes docs/benchmarks.md.
func writeReport(path string, res *results) error {
	r := &report{res: res}
	r.header()
	if res.cfg.only == "idle" {
		r.idle()
		return os.WriteFile(path, []byte(r.String()), 0o644)
	}
	r.summary()
	r.httpClosed()
	r.httpCBackend()
	r.httpFixed()
	r.upgrades()
	r.idle()
	r.rtt()
	r.ring()
	r.balancer(filepath.Join(filepath.Dir(path), "balancer.md"))
	r.losses()
	return os.WriteFile(path, []byte(r.String()), 0o644)
}

func (r *report) header() {
	res, cfg, m := r.res, r.res.cfg, r.res.machine
	mode := "full run"
	if cfg.quick {
		mode = "**quick run (QUICK=1): short measurements to validate the harness, not for comparison**"
	}
	if cfg.only == "idle" {
		mode = "**figure 4 alone (ONLY=idle): the other figures were not measured; not for comparison**"
		if cfg.quick {
			mode = "**figure 4 alone (ONLY=idle) of a quick run (QUICK=1): not for comparison**"
		}
	}
	r.p("<!-- Code generated by hack/bench.sh; DO NOT EDIT. -->\n")
	r.p("# Benchmarks: the gateway beside nginx and HAProxy\n")
	r.p("The gateway, nginx and HAProxy, each hashing the `room` query parameter consistently onto the same four")
	r.p("backends, measured side by side in one run on one machine, with a direct connection to the backends as the")
	r.p("physical limit. Regenerate this page with `%s` (hack/bench.sh, which runs", cfg.command)
	r.p("[test/bench/cmd/benchrun](../test/bench/cmd/benchrun)); `QUICK=1 make bench` is a three-minute smoke run, and")
	r.p("`ONLY=idle make bench` measures figure 4 alone (see hack/bench.sh).\n")
	r.p("This page: %s, %d repetitions of every measurement, started %s, took %s.",
		mode, cfg.reps, res.start.UTC().Format("2006-01-02 15:04 MST"), res.end.Sub(res.start).Round(time.Second))
	r.p("Load average (1, 5, 15 min) at the start: %s; at the end: %s. On %d CPUs, anything above about 1.5",
		res.loadStart, res.loadEnd, m.CPUs)
	r.p("before the start means other work shared the machine and the spreads below are wider than they need be.")
	var other []float64
	for _, v := range res.other {
		for _, x := range v {
			if x >= 0 {
				other = append(other, x)
			}
		}
	}
	s := spreadOf(other)
	r.p("During the measurements, processes outside the benchmark used a median %s and at most %s of the CPUs",
		fmtPct(s.med), fmtPct(s.max))
	r.p("(the tables' *others' CPU* column, per run, from /proc, kernel threads aside). A run during which they took")
	r.p("more than %s was run again, at most %d times and %d times in all: %d of %d runs were repeated.\n",
		fmtPct(disturbed), maxRepeats, repeatBudget, res.repeats, res.runs)

	r.p("## Machine\n")
	r.p("| | |\n|---|---|")
	r.p("| CPU | %s, %d logical CPUs |", m.CPU, m.CPUs)
	r.p("| memory | %s |", m.Memory)
	r.p("| OS, kernel | %s, Linux %s |", m.OS, m.Kernel)
	r.p("| Go | %s |", m.Go)
	r.p("| nginx | %s (Debian package) |", m.Nginx)
	r.p("| HAProxy | %s (Debian package) |", m.HAProxy)
	r.p("| wrk | %s |", m.Wrk)
	r.p("| gateway | commit %s |", m.Rev)
	r.p("| open files limit | %d |", m.NoFile)
	r.p("| ephemeral ports | %d (net.ipv4.ip_local_port_range) |", m.Ports)
	r.p("")

	r.p("## Set-up\n")
	r.p("Everything runs on loopback addresses (127.0.0.0/8), each process on its own address:\n")
	r.p("| `$TARGET` | address | what |\n|---|---|---|")
	r.p("| direct | %s (wrk: the first only) | four backends ([test/bench/cmd/backend](../test/bench/cmd/backend)): 200 with a 14-byte body, WebSocket echo (github.com/coder/websocket) |", strings.Join(backendAddrs, ", "))
	r.p("| nginx | %s | [nginx.conf.tmpl](../test/bench/nginx.conf.tmpl): `hash $arg_room consistent`, upstream `keepalive 64`, HTTP/1.1 upstream with `Connection \"\"` (the upgrade map for WebSockets), `access_log off`, `reuseport`, `keepalive_requests` raised from 1000 |", listenAddr(nginx))
	r.p("| haproxy | %s | [haproxy.cfg.tmpl](../test/bench/haproxy.cfg.tmpl): `balance url_param room`, `hash-type consistent`, `http-reuse always`, `option http-keep-alive`, no logging |", listenAddr(haproxy))
	r.p("| gateway | %s | `cmd/gateway --rings-file` with default flags and [rings.yaml.tmpl](../test/bench/rings.yaml.tmpl): one StableRing, Jump, the four backends Serving, key from the `room` query parameter |", listenAddr(gw))
	r.p("| C backend (figure 1b only) | %s (wrk: the first only) | one nginx, `worker_processes %d`, with a server per address ([nginx-backend.conf.tmpl](../test/bench/nginx-backend.conf.tmpl)): `return 200` with a 16-byte body; the three proxies above, started again with these backends, listen on port %d of their addresses |",
		strings.Join(cBackendAddrs, ", "), m.CPUs, cListenPort)
	r.p("")
	r.p("- **CPUs.** Nothing is pinned: the proxy, the load generator and the backends share the %d CPUs. Every proxy", m.CPUs)
	r.p("  gets all of them: nginx `worker_processes %d`, HAProxy `nbthread %d`, the gateway GOMAXPROCS=%d (Go's default).", m.CPUs, m.CPUs, m.CPUs)
	r.p("  A proxy that spends more CPU per request leaves less to wrk and the backends, so throughput ratios are")
	r.p("  ratios of CPU efficiency, and the direct row is the ceiling of this machine, not of the proxies.")
	r.p("- **Proxy CPU.** The *proxy CPU per request* (upgrade, message) columns are the CPU time the proxy's")
	r.p("  processes used during a run (user and system time from /proc, nginx's master and workers summed)")
	r.p("  divided by the run's length and its achieved rate; *of it in the kernel* is the system time alone,")
	r.p("  the system calls and the loopback TCP processing they do. It is the work a request costs each proxy,")
	r.p("  which throughput on shared CPUs shows only indirectly. It still varies with the load: a proxy kept")
	r.p("  busy spends less per request on going to sleep and waking up.")
	r.p("- **Load.** wrk: %d threads, %d connections, requests spread over %d rooms by [rooms.lua](../test/bench/rooms.lua).",
		r.res.cfg.httpThreads, r.res.cfg.httpConns, r.res.cfg.rooms)
	r.p("  Fixed-rate HTTP: [httpload](../test/bench/cmd/httpload), open loop over %d keep-alive connections, latency", r.res.cfg.httpConns)
	r.p("  measured from each request's intended send time (no coordinated omission). WebSockets:")
	r.p("  [wsbench](../test/bench/cmd/wsbench), connecting from 127.0.79.1–8.")
	r.p("- **Spread.** Every measurement runs %d times, the targets interleaved (each repetition starts with another", r.res.cfg.reps)
	r.p("  target). Cells are *median (min–max)* over the repetitions; ratios compare medians.")
	r.p("- **Routing check** before measuring: every room sent twice through each proxy reached the same backend both")
	r.p("  times, rooms reached all four backends, and a WebSocket echoed through each target.\n")
}

// summary is one line per figure: the gateway and HAProxy against nginx.
func (r *report) summary() {
	res := r.res
	type row struct {
		name         string
		higherBetter bool
		vals         func(string) []float64
		format       func(float64) string
	}
	rows := []row{
		{"HTTP requests/s at " + fmt.Sprint(res.cfg.httpConns) + " connections (wrk)", true, wrkValues(res.http, wrkRate), fmtCount},
		{"HTTP p99 at " + fmt.Sprint(res.cfg.httpConns) + " connections (wrk)", false, wrkValues(res.http, wrkP99), fmtDur},
		{"proxy CPU time per HTTP request (wrk)", false, r.cpuPerRequest(res.http, "http"), fmtCPU},
		{"HTTP requests/s, C backend (figure 1b)", true, wrkValues(res.cBackend.HTTP, wrkRate), fmtCount},
		{"HTTP p99, C backend", false, wrkValues(res.cBackend.HTTP, wrkP99), fmtDur},
		{"proxy CPU time per HTTP request, C backend", false, r.cpuPerRequest(res.cBackend.HTTP, "cbackend"), fmtCPU},
	}
	if c := res.cBackend; c.Syscalls != nil {
		rows = append(rows, row{"system calls per HTTP request, C backend (one run)", false, func(t string) []float64 {
			if s, ok := c.Syscalls[t]; ok {
				return []float64{s.perRequest(s.Counts.Total)}
			}
			return nil
		}, fmtPerReq})
	}
	rows = append(rows, []row{
		{"HTTP p99 at " + fmtCount(res.fixedRate) + " requests/s (half of nginx's maximum)", false, loadValues(res.fixed, p99), fmtDur},
		{"WebSocket upgrades/s", true, loadValues(res.upgrades, thrput), fmtCount},
		{"WebSocket handshake p99", false, loadValues(res.upgrades, p99), fmtDur},
	}...)
	for _, set := range res.idle {
		rows = append(rows, row{fmt.Sprintf("RSS per idle WebSocket at %s connections", fmtCount(float64(set.Conns))), false,
			func(t string) []float64 {
				return values(set.ByProxy[t], func(i bench.IdleResult) float64 { return i.BytesPerConn })
			}, fmtKiB})
	}
	rows = append(rows,
		row{"WebSocket message round trip p99", false, loadValues(res.rtt, p99), fmtDur},
		row{"HTTP p99 at " + fmtCount(res.ringRate) + " requests/s while the ring changes every second", false,
			func(t string) []float64 {
				return values(res.ring[t], func(rr ringRun) float64 { return p99(rr.LoadResult) })
			}, fmtDur},
		row{"failed requests per run while the ring changes", false, func(t string) []float64 {
			return values(res.ring[t], func(rr ringRun) float64 { return errs(rr.LoadResult) })
		}, fmtCount},
	)
	r.p("## Summary\n")
	r.p("Medians over the repetitions; *gateway vs nginx* says whether the gateway's range of results lies entirely")
	r.p("above or below nginx's, or the two overlap, or the medians are within 5%% of each other. Details, spreads")
	r.p("and commands follow.\n")
	r.p("| figure | better | nginx | HAProxy | × nginx | gateway | × nginx | gateway vs nginx |")
	r.p("|---|---|--:|--:|--:|--:|--:|---|")
	for _, x := range rows {
		better := "lower"
		if x.higherBetter {
			better = "higher"
		}
		nv, hv, gv := x.vals(nginx), x.vals(haproxy), x.vals(gw)
		r.p("| %s | %s | %s | %s | %s | %s | %s | %s |", x.name, better, medianCell(nv, x.format), medianCell(hv, x.format),
			ratioCell(hv, nv), medianCell(gv, x.format), ratioCell(gv, nv), verdict(gv, nv, x.higherBetter))
	}
	r.p("")
}

func (r *report) httpClosed() {
	res := r.res
	r.p("## 1. Small HTTP requests at fixed concurrency\n")
	r.p("wrk, %d connections, %s per run, as fast as each target answers (closed loop). Latency is wrk's, which",
		res.cfg.httpConns, secs(res.cfg.httpDuration))
	r.p("does not count the time a request waits for a connection; see figure 2 for latency at a fixed rate.\n")
	r.wrkTable(res.http, "http")
	r.command(res.commands.http, "")
}

// wrkValues are f of the wrk runs of each target.
func wrkValues(runs map[string][]bench.WrkResult, f func(bench.WrkResult) float64) func(string) []float64 {
	return func(t string) []float64 { return values(runs[t], f) }
}

func wrkRate(w bench.WrkResult) float64 { return w.Throughput }
func wrkP99(w bench.WrkResult) float64  { return float64(w.P99) }

// wrkTable writes the table of a wrk figure: requests/s, latency and errors, the proxy's CPU
// time per request and the share of the CPUs others took, per target.
func (r *report) wrkTable(runs map[string][]bench.WrkResult, figure string) {
	rate := wrkValues(runs, wrkRate)
	cols := []column{
		{header: "requests/s", vals: rate, format: fmtCount, ratio: true},
		{header: "p50", vals: wrkValues(runs, func(w bench.WrkResult) float64 { return float64(w.P50) }), format: fmtDur},
		{header: "p99", vals: wrkValues(runs, wrkP99), format: fmtDur, ratio: true},
		{header: "errors", vals: wrkValues(runs, func(w bench.WrkResult) float64 { return float64(w.Non2xx + w.SocketErrors) }), format: fmtCount, sum: true},
	}
	cols = append(cols, r.cpuColumns(figure, "request", rate)...)
	r.table([]string{direct, nginx, haproxy, gw}, append(cols, r.otherColumn(figure)))
}

func (r *report) httpFixed() {
	res := r.res
	r.p("## 2. HTTP latency at half of nginx's maximum rate\n")
	r.p("%s requests/s (half of nginx's median requests/s in figure 1) for %s per run, open loop over %d keep-alive",
		fmtCount(res.fixedRate), secs(res.cfg.httpDuration), res.cfg.httpConns)
	r.p("connections. The direct row spreads the connections over the four backends.\n")
	r.saturated(res.fixed, res.fixedRate)
	r.loadTable(res.fixed, "fixed", "request")
	r.command(res.commands.fixed, "")
}

// saturated names the targets that could not keep up with rate: their achieved rate (answers
// within the measured window) fell short, requests queued, and their latency measures the queue.
func (r *report) saturated(m map[string][]bench.LoadResult, rate float64) {
	var names []string
	for _, t := range []string{direct, nginx, haproxy, gw} {
		if median(loadValues(m, thrput)(t)) < 0.97*rate {
			names = append(names, t)
		}
	}
	if len(names) > 0 {
		r.p("**Saturated: %s.** Achieved/s counts answers within the measured window; below the rate, the target", strings.Join(names, ", "))
		r.p("could not keep up, requests queued, and its latency is the queue's, growing with the run's length.\n")
	}
}

func (r *report) upgrades() {
	res := r.res
	r.p("## 3. WebSocket upgrades: the reconnect-storm capacity\n")
	r.p("%d workers open a connection, complete the WebSocket handshake through the proxy to a backend, and close",
		res.cfg.upgradeWorkers)
	r.p("it, back to back for %s per run. Handshake latency runs from connect to the 101 answer.\n", secs(res.cfg.upgradeDuration))
	cols := []column{
		{header: "upgrades/s", vals: loadValues(res.upgrades, thrput), format: fmtCount, ratio: true},
		{header: "p50 handshake", vals: loadValues(res.upgrades, p50), format: fmtDur},
		{header: "p99 handshake", vals: loadValues(res.upgrades, p99), format: fmtDur, ratio: true},
		{header: "errors", vals: loadValues(res.upgrades, errs), format: fmtCount, sum: true},
	}
	cols = append(cols, r.cpuColumns("upgrades", "upgrade", loadValues(res.upgrades, thrput))...)
	r.table([]string{direct, nginx, haproxy, gw}, append(cols, r.otherColumn("upgrades")))
	r.command(res.commands.upgrades, "")
}

func (r *report) idle() {
	res := r.res
	r.p("## 4. Memory per idle proxied WebSocket\n")
	r.p("For each measurement the proxy is started afresh, one WebSocket is echoed through it, then the summed VmRSS")
	r.p("of its processes (nginx: master and workers) is read before and %s after opening N idle WebSockets through", secs(res.cfg.idleSettle))
	r.p("it; the difference divided by N is the cost of a connection. Afterwards every connection must echo a")
	r.p("message, proving it was proxied end to end.\n")
	r.p("A proxied WebSocket holds two file descriptors in the proxy, and this machine's hard limit on open files is")
	r.p("%d per process (raising it needs CAP_SYS_RESOURCE outside the sandbox's user namespace). So a count", res.machine.NoFile)
	r.p("above %s is held by several instances of each proxy, started alike on their own ports, with the", fmtCount(float64(res.perProcess)))
	r.p("connections spread evenly over them (connection *i* to instance *i* mod *k*) and the RSS of all their")
	r.p("processes summed: the memory the tier of proxies needs for N connections, as when the gateway runs as *k*")
	r.p("replicas. The load generator's connections are held by child processes for the same reason.\n")
	r.p("The backends are under the same limit, and every proxy connects to a backend's address from 127.0.0.1,")
	r.p("so one backend address takes at most %s connections (the ephemeral ports of one source and", fmtCount(float64(res.machine.Ports)))
	r.p("destination pair). A count for which the four backends would hold more than %s each on average (two", fmtCount(float64(res.perBackend)))
	r.p("thirds of the lower of the two limits; the rest is for the consistent hashes, which give some members more")
	r.p("rooms than others) is held by *g* groups of four backends: the first on the addresses in [Set-up](#set-up),")
	r.p("group *j* on 127.0.77.10*j*+1 to 127.0.77.10*j*+4 (port %d), started for that count only; instance *k*", backendPort)
	r.p("of a proxy is in front of group *k* mod *g*, with the same ring of four members as the others. The")
	r.p("backends' memory is not counted.\n")
	for _, set := range res.idle {
		idle := func(f func(bench.IdleResult) float64) func(string) []float64 {
			return func(t string) []float64 { return values(set.ByProxy[t], f) }
		}
		groups := ""
		if set.Groups > 1 {
			groups = fmt.Sprintf(" in front of %d groups of backends", set.Groups)
		}
		r.p("N = %s, over %d instance(s) of each proxy%s (%s of this run):\n", fmtCount(float64(set.Conns)), set.Instances, groups, set.Took)
		var rows []string
		for _, t := range []string{nginx, haproxy, gw} {
			if len(set.ByProxy[t]) > 0 {
				rows = append(rows, t)
			}
		}
		for _, t := range []string{nginx, haproxy, gw} {
			if e := set.Errors[t]; e != "" {
				r.p("**%s not measured at this count**: %s (its log: tools.log and the proxy's logs in the work", t, clip(e, 400))
				r.p("directory, which `KEEP=1 make bench` keeps).\n")
			}
		}
		if len(rows) == 0 {
			continue
		}
		r.table(rows, []column{
			{header: "RSS per connection", vals: idle(func(i bench.IdleResult) float64 { return i.BytesPerConn }), format: fmtKiB, ratio: true},
			{header: "RSS before", vals: idle(func(i bench.IdleResult) float64 { return float64(i.RSSBefore) }), format: fmtMiB},
			{header: "RSS with N open", vals: idle(func(i bench.IdleResult) float64 { return float64(i.RSSAfter) }), format: fmtMiB},
			{header: "failed to open", vals: idle(func(i bench.IdleResult) float64 { return float64(i.Failed) }), format: fmtCount, sum: true},
			{header: "echoed", vals: idle(func(i bench.IdleResult) float64 { return float64(i.Echoed) }), format: fmtCount},
			r.otherColumn(fmt.Sprintf("idle-%d", set.Conns)),
		})
	}
	r.command(res.commands.idle, "; `$PROXY_PIDS` are the proxy's process IDs")
}

// clip is s cut to at most n bytes, marked with "…" when cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

func (r *report) rtt() {
	res := r.res
	r.p("## 5. WebSocket message round trip under load\n")
	r.p("%d open WebSockets carry %s messages/s in total (%d bytes each, echoed by the backend) for %s per run;",
		res.cfg.rttConns, fmtCount(res.cfg.rttRate), 32, secs(res.cfg.rttDuration))
	r.p("each message goes out on a connection not waiting for an echo, and its round trip is measured from when")
	r.p("it was due (open loop).\n")
	r.saturated(res.rtt, res.cfg.rttRate)
	r.loadTable(res.rtt, "rtt", "message")
	r.command(res.commands.rtt, "")
}

func (r *report) ring() {
	res := r.res
	ring := func(f func(ringRun) float64) func(string) []float64 {
		return func(t string) []float64 { return values(res.ring[t], f) }
	}
	changing := ring(func(x ringRun) float64 { return p99(x.LoadResult) })
	steady := loadValues(res.ringSteady, p99)
	r.p("## 6. Ring change under load\n")
	r.p("Fixed-rate HTTP load as in figure 2, at %s requests/s (half of the slowest proxy's requests/s in figure 1,",
		fmtCount(res.ringRate))
	r.p("so that no proxy is saturated), %s per run: once steady, then while the ring changes every second. The", secs(res.cfg.ringDuration))
	r.p("last member alternates between two addresses of the same backend; each proxy is changed the way it is")
	r.p("done in production:\n")
	r.p("- **nginx**: the configuration is rewritten and `nginx -s reload`ed. Open-source nginx has no other way to")
	r.p("  change an upstream's servers; ingress-nginx avoids reloads for endpoint changes with a Lua balancer that")
	r.p("  Debian's nginx does not have. A reload starts new workers and retires the old ones, closing their idle")
	r.p("  keep-alive connections.")
	r.p("- **HAProxy**: the runtime API, `set server stablering/b3 addr ... port ...`; no reload.")
	r.p("- **gateway**: the rings file is replaced with the other ring and a new `ringVersion`; a change counts as")
	r.p("  applied once `/debug/rings` shows the new version (within a second).\n")
	r.p("*Retries* are requests that found their keep-alive connection closed by the proxy before any answer and")
	r.p("were sent again on a new connection, as browsers and HTTP libraries do; *errors* are the ones that failed")
	r.p("anyway or got a non-2xx answer.\n")
	r.table([]string{nginx, haproxy, gw}, []column{
		{header: "changes made", vals: ring(func(x ringRun) float64 { return float64(x.Changes) }), format: fmtCount},
		{header: "applied", vals: ring(func(x ringRun) float64 { return float64(x.Applied) }), format: fmtCount},
		{header: "p99 steady", vals: steady, format: fmtDur},
		{header: "p99 changing", vals: changing, format: fmtDur, ratio: true},
		{header: "p99.9 changing", vals: ring(func(x ringRun) float64 { return p999(x.LoadResult) }), format: fmtDur},
		{header: "retries", vals: ring(func(x ringRun) float64 { return float64(x.Retries) }), format: fmtCount, sum: true},
		{header: "errors", vals: ring(func(x ringRun) float64 { return errs(x.LoadResult) }), format: fmtCount, sum: true},
		r.otherColumn("ring"),
	})
	var vs []string
	for _, t := range []string{nginx, haproxy, gw} {
		vs = append(vs, fmt.Sprintf("%s %s", t, fmtRatio(median(changing(t)), median(steady(t)))))
	}
	r.p("p99 while changing against steady (medians): %s.\n", strings.Join(vs, ", "))
	r.command(res.commands.ring, "; the ring changes run alongside the second run")
}

// balancer quotes the balance and lookup-cost tables of docs/balancer.md.
func (r *report) balancer(path string) {
	r.p("## 7. Balancer\n")
	r.p("Not measured here: the figures below are quoted from [balancer.md](balancer.md) (regenerated by")
	r.p("`make bench-balancer`), which says how they were measured. `Ketama` is the construction of nginx's")
	r.p("`hash ... consistent` and ingress-nginx's resty.chash (crc32, 160 points per server), so its row is the")
	r.p("comparison with nginx's ring; the gateway's default is `Jump`.\n")
	data, err := os.ReadFile(path)
	if err != nil {
		r.p("(%s could not be read: %v)\n", path, err)
		return
	}
	for _, heading := range []string{"## Balance", "### Owner"} {
		if sec := section(string(data), heading); sec != "" {
			r.p("%s\n", sec)
		}
	}
}

// section is the text of a markdown section up to the next heading, its heading demoted to
// the level below "## 7.".
func section(md, heading string) string {
	_, rest, ok := strings.Cut(md, "\n"+heading+"\n")
	if !ok {
		return ""
	}
	if i := strings.Index(rest, "\n#"); i >= 0 {
		rest = rest[:i]
	}
	title := strings.TrimLeft(heading, "# ")
	if title == "Owner" {
		title = "Lookup cost (Owner)"
	}
	return "### " + title + "\n" + strings.TrimSpace(rest)
}

// losses is the analysis of where the gateway loses, with its profiles.
func (r *report) losses() {
	pr := r.res.profile
	r.p("## Where the gateway loses, and why\n")
	r.p("%s\n", strings.TrimSpace(analysis))
	r.p("### Profiles\n")
	r.p("Taken in this run from a second gateway started with `--pprof` (profiles on its admin port) on")
	r.p("its own address, with the same rings file and otherwise default flags.\n")
	r.p("**HTTP.** CPU during `wrk` as in figure 1, for %s (%s requests/s, p99 %s while profiled):\n",
		secs(r.res.cfg.profileDuration), fmtCount(pr.Wrk.Throughput), fmtDur(float64(pr.Wrk.P99)))
	r.cpuProfile(pr.HTTP)
	r.p("**WebSocket upgrades.** CPU during `wsbench upgrades` as in figure 3, for %s (%s upgrades/s, p99 %s):\n",
		secs(r.res.cfg.profileDuration), fmtCount(pr.Storm.Throughput), fmtDur(float64(pr.Storm.Latency.P99)))
	r.cpuProfile(pr.Upgrades)
	n := float64(max(pr.Idle.Conns, 1))
	r.p("**Idle WebSockets.** With %s idle WebSockets open: %s of RSS per connection in this process, of which the",
		fmtCount(float64(pr.Idle.Conns)), fmtKiB(pr.Idle.BytesPerConn))
	r.p("Go runtime accounts %s to goroutine stacks and %s to the heap (StackInuse and HeapInuse, after a",
		fmtKiB(float64(pr.After.StackInuse-pr.Before.StackInuse)/n), fmtKiB(float64(pr.After.HeapInuse-pr.Before.HeapInuse)/n))
	r.p("collection, against before the connections were opened); %s goroutines in all. The in-use heap:\n",
		fmtCount(float64(pr.Goroutines)))
	r.p("```\n%s\n```", pr.HeapTop)
}

func (r *report) cpuProfile(p cpuProfile) {
	if p.File != "" {
		r.p("The profile is `%s` in the work directory, which `KEEP=1 make bench` keeps; read it with", p.File)
		r.p("`go tool pprof -top %s`.\n", p.File)
	}
	r.p("<details><summary>by flat time</summary>\n\n```\n%s\n```\n</details>\n", p.Flat)
	r.p("<details><summary>by cumulative time</summary>\n\n```\n%s\n```\n</details>\n", p.Cum)
}

// httpCBackend is figure 1b: figure 1 with the C backend, the proxies' system calls per
// request and the gateway's profile.
func (r *report) httpCBackend() {
	res, c := r.res, r.res.cBackend
	r.p("## 1b. Small HTTP requests with a C backend\n")
	r.p("Figure 1 again, with the proxies in front of backends that are never the bottleneck: one nginx")
	r.p("([nginx-backend.conf.tmpl](../test/bench/nginx-backend.conf.tmpl), `worker_processes %d`) answering", res.machine.CPUs)
	r.p("`return 200` with a 16-byte body from memory on %s, one server per ring member.", strings.Join(cBackendAddrs, ", "))
	r.p("The Go backends of figure 1 share the CPUs with the proxy and spend more of them per request than the")
	r.p("proxies do, which hides part of every proxy's cost. The proxies here are second instances, configured as in")
	r.p("[Set-up](#set-up) but with these members and on port %d of the same addresses, started for this figure", cListenPort)
	r.p("only; this gateway also serves its profiles (`--pprof`), which costs nothing until one is taken. The direct")
	r.p("row is wrk against the first server.\n")
	r.wrkTable(c.HTTP, "cbackend")
	r.command(res.commands.http, fmt.Sprintf(", but on port %d of the proxies' addresses, and %s for direct", cListenPort, cBackendAddrs[0]))

	r.p("### System calls per request\n")
	if c.Syscalls == nil {
		r.p("Not counted in this run: %s.\n", c.SyscallsErr)
	} else {
		r.p("Counted during one more wrk run per proxy as above: `perf stat` attached to the proxy's processes (nginx:")
		r.p("master and workers) counts the `%s` tracepoint (every system call) and `%s`", bench.PerfTotalEvent, bench.PerfCallEvent("NAME"))
		r.p("for %d calls by name from just before wrk starts until just after it ends; the counts are divided by the", len(syscallNames))
		r.p("requests wrk completed. Counting slows the proxy a little, so these runs are not in the table above. *other* is")
		r.p("the calls perf counted but not by name. Rows show every call made at least 0.01 times per request by one")
		r.p("of the proxies.\n")
		r.syscallTable(c.Syscalls)
		r.p("Command (`$PROXY_PIDS` are the proxy's process IDs; `echo enable >ctl.fifo` just before the wrk command")
		r.p("above and `echo disable >ctl.fifo` just after it, each acknowledged on ack.fifo, then Ctrl-C):\n")
		r.p("```sh\nperf %s\n```\n", strings.Join(perfArgs("$PROXY_PIDS", "ctl.fifo", "ack.fifo"), " "))
	}

	r.p("### Gateway CPU profile\n")
	r.p("Taken from the gateway of this figure through its admin port during one more wrk run as above, for %s", secs(res.cfg.profileDuration))
	r.p("(%s requests/s, p99 %s while profiled).\n", fmtCount(c.ProfileWrk.Throughput), fmtDur(float64(c.ProfileWrk.P99)))
	r.cpuProfile(c.Profile)
}

// syscallTable writes the system calls per request of each proxy: the total, then one row per
// call made at least 0.01 times per request by one of them, most frequent first, and the rest.
func (r *report) syscallTable(runs map[string]syscallRun) {
	proxies := []string{nginx, haproxy, gw}
	perReq := func(t string, count func(bench.SyscallCounts) int64) (float64, bool) {
		s, ok := runs[t]
		if !ok {
			return 0, false
		}
		return s.perRequest(count(s.Counts)), true
	}
	row := func(label string, count func(bench.SyscallCounts) int64) string {
		line := "| " + label + " |"
		for _, t := range proxies {
			if v, ok := perReq(t, count); ok {
				line += " " + fmtPerReq(v) + " |"
			} else {
				line += " – |"
			}
		}
		return line
	}
	peak := map[string]float64{}
	for _, name := range syscallNames {
		for _, t := range proxies {
			v, _ := perReq(t, func(c bench.SyscallCounts) int64 { return c.ByCall[name] })
			peak[name] = max(peak[name], v)
		}
	}
	var names []string
	for _, name := range syscallNames {
		if peak[name] >= 0.01 {
			names = append(names, name)
		}
	}
	slices.SortStableFunc(names, func(a, b string) int { return cmp.Compare(peak[b], peak[a]) })

	r.p("| system calls per request | nginx | haproxy | gateway |\n|---|--:|--:|--:|")
	r.p("%s", row("**all**", func(c bench.SyscallCounts) int64 { return c.Total }))
	ratios := "| × nginx |"
	base, _ := perReq(nginx, func(c bench.SyscallCounts) int64 { return c.Total })
	for _, t := range proxies {
		v, _ := perReq(t, func(c bench.SyscallCounts) int64 { return c.Total })
		ratios += " " + fmtRatio(v, base) + " |"
	}
	r.p("%s", ratios)
	for _, name := range names {
		r.p("%s", row("`"+name+"`", func(c bench.SyscallCounts) int64 { return c.ByCall[name] }))
	}
	r.p("%s", row("other", bench.SyscallCounts.Other))
	rates := "| requests/s while counted |"
	for _, t := range proxies {
		rates += " " + fmtCount(runs[t].Wrk.Throughput) + " |"
	}
	r.p("%s\n", rates)
}

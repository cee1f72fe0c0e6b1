package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/stablering/stablering/test/bench"
	"github.com/stablering/stablering/test/bench/internal/wsclient"
)

// harness owns the processes under test and runs the figures.
type harness struct {
	cfg             config
	logs, raw, prof string
	cpus, nofile    int
	// ports is the size of the ephemeral port range (net.ipv4.ip_local_port_range).
	ports    int
	backends []*proc
	proxies  []*proxy // nginx, haproxy, gateway
}

func newHarness(cfg config) (*harness, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil, err
	}
	h := &harness{
		cfg: cfg, logs: filepath.Join(cfg.work, "logs"), raw: filepath.Join(cfg.work, "raw"),
		prof: filepath.Join(cfg.work, "profiles"), cpus: runtime.NumCPU(), nofile: int(lim.Cur),
		ports: ephemeralPorts(),
	}
	for _, dir := range []string{h.logs, h.raw, h.prof} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	for _, name := range []string{nginx, haproxy, gw} {
		h.proxies = append(h.proxies, h.newProxy(name, backendAddrs, listenPort, adminPort, name))
	}
	return h, nil
}

func (h *harness) bin(name string) string { return filepath.Join(h.cfg.bin, name) }

// startAll starts the backends and the proxies.
func (h *harness) startAll() error {
	for i, addr := range backendAddrs {
		listen := addr
		if i == len(backendAddrs)-1 {
			listen += "," + altBackendAddr
		}
		name := fmt.Sprintf("b%d", i)
		p, err := startProc(h.logs, "backend-"+name, h.bin("backend"), "-name", name, "-listen", listen)
		if err != nil {
			return err
		}
		h.backends = append(h.backends, p)
		if err := p.waitTCP(addr); err != nil {
			return err
		}
	}
	for _, p := range h.proxies {
		if err := p.start(); err != nil {
			return err
		}
	}
	return nil
}

// close stops every process.
func (h *harness) close() {
	stopAll(h.proxies)
	for _, b := range h.backends {
		b.stop()
	}
}

// targets are the names of what is measured: the proxies and, with direct, the backends.
func (h *harness) targets(withDirect bool) []string {
	var t []string
	if withDirect {
		t = append(t, direct)
	}
	for _, p := range h.proxies {
		t = append(t, p.name)
	}
	return t
}

// rotated is targets starting at rep, so no target always runs first or after the same one.
func rotated(targets []string, rep int) []string {
	r := rep % len(targets)
	return append(slices.Clone(targets[r:]), targets[:r]...)
}

func (h *harness) proxy(name string) *proxy { return findProxy(h.proxies, name) }

// findProxy is the proxy of ps called name.
func findProxy(ps []*proxy, name string) *proxy {
	for _, p := range ps {
		if p.name == name {
			return p
		}
	}
	panic("no proxy " + name)
}

// anyTarget stands for the target in the commands the report shows.
const anyTarget = "$TARGET"

// addr is where the Go tools send to: the proxy, or every backend for direct.
func (h *harness) addr(target string) string {
	switch target {
	case anyTarget:
		return anyTarget
	case direct:
		return strings.Join(backendAddrs, ",")
	default:
		return h.proxy(target).listen
	}
}

// url is wrk's URL: the proxy, or the first backend for direct (wrk has one target).
func (h *harness) url(target string) string {
	switch target {
	case anyTarget:
		return "http://" + anyTarget + "/"
	case direct:
		return "http://" + backendAddrs[0] + "/"
	default:
		return "http://" + h.proxy(target).listen + "/"
	}
}

// Runs disturbed by other work are repeated: when processes outside the benchmark took more
// than disturbed of the CPUs during a run, it is run again, at most maxRepeats times, and at
// most repeatBudget times in all, so the run's length stays bounded on a busy machine.
const (
	disturbed    = 0.10
	maxRepeats   = 2
	repeatBudget = 10
)

// measure runs one measurement of figure against target, repeating it when it was disturbed,
// and records the share of the CPUs other processes took, and the CPU the proxy used, during
// the attempt that counts.
func (h *harness) measure(res *results, figure, target string, run func() error) error {
	proxy := 0
	if target != direct {
		proxy = h.proxy(target).proc.pid()
	}
	return h.measureProc(res, figure, target, proxy, run)
}

// measureProc is measure with the proxy under test given by its first process (nginx's
// master), or 0 for none.
func (h *harness) measureProc(res *results, figure, target string, proxy int, run func() error) error {
	res.runs++
	for attempt := 0; ; attempt++ {
		before, after, err := sampled(run, proxy)
		if err != nil {
			return err
		}
		other := otherCPU(before, after, h.cpus)
		if other <= disturbed || attempt == maxRepeats || res.repeats == repeatBudget {
			res.addOther(figure, target, other)
			if use, ok := proxyUse(before, after); ok && proxy != 0 {
				res.addProxyCPU(figure, target, use)
			}
			return nil
		}
		res.repeats++
		logf("   %s, %s: other processes took %s of the CPUs; running it again", figure, target, fmtPct(other))
	}
}

// sampled runs run between two CPU samples, which include the proxy whose first process is
// proxy (0 for none).
func sampled(run func() error, proxy int) (before, after cpuSample, err error) {
	before = sampleCPU(proxy)
	err = run()
	return before, sampleCPU(proxy), err
}

func secs(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s" }

// tool runs one of the harness's measuring commands and decodes its JSON result into v; the
// output is kept as raw/<name>.json.
func (h *harness) tool(ctx context.Context, name string, v any, bin string, args ...string) error {
	out, err := runTool(ctx, filepath.Join(h.logs, "tools.log"), h.bin(bin), args...)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(h.raw, name+".json"), out, 0o644); err != nil {
		return err
	}
	return json.Unmarshal(out, v)
}

// checkRouting checks every target answers, each proxy sends a room to one backend every
// time and spreads rooms over every backend, and WebSockets echo through it.
func (h *harness) checkRouting(ctx context.Context, _ *results) error {
	for _, t := range h.targets(true) {
		if err := checkTarget(ctx, t, strings.Split(h.addr(t), ","), len(backendAddrs), true); err != nil {
			return err
		}
	}
	return nil
}

// checkTarget checks the target called name, reached at addrs (spread over them), answers
// every room, sends a room to the same one of backends backends every time, and reaches
// them all; with ws, that a WebSocket echoes through it.
func checkTarget(ctx context.Context, name string, addrs []string, backends int, ws bool) error {
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	const rooms = 64
	owner := map[int]string{}
	reached := map[string]bool{}
	for pass := range 2 {
		for room := range rooms {
			addr := addrs[room%len(addrs)]
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/?room=%d", addr, room), nil)
			if err != nil {
				return err
			}
			resp, err := client.Do(req)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			b := resp.Header.Get("X-Backend")
			if resp.StatusCode != http.StatusOK || b == "" {
				return fmt.Errorf("%s: room %d: %s, X-Backend %q", name, room, resp.Status, b)
			}
			if pass == 1 && owner[room] != b {
				return fmt.Errorf("%s: room %d went to %s, then to %s", name, room, owner[room], b)
			}
			owner[room] = b
			reached[b] = true
		}
	}
	if len(reached) != backends {
		return fmt.Errorf("%s: %d rooms reached %d of %d backends", name, rooms, len(reached), backends)
	}
	if ws {
		if err := echoOnce(ctx, addrs[0]); err != nil {
			return fmt.Errorf("%s: WebSocket: %w", name, err)
		}
	}
	return nil
}

// echoOnce opens a WebSocket through addr and checks it echoes.
func echoOnce(ctx context.Context, addr string) error {
	c, err := wsclient.Dial(ctx, nil, addr, addr, "/ws?room=1", 5*time.Second)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return err
	}
	if err := c.WriteText([]byte("hello")); err != nil {
		return err
	}
	got, err := c.ReadMessage(nil)
	if err != nil {
		return err
	}
	if string(got) != "hello" {
		return fmt.Errorf("echo %q", got)
	}
	return nil
}

// httpClosedLoop: wrk at fixed concurrency against every target.
func (h *harness) httpClosedLoop(ctx context.Context, res *results) error {
	if err := os.WriteFile(h.wrkScript(), bench.WrkScript(), 0o644); err != nil {
		return err
	}
	res.commands.http = h.wrkCommand()
	pid := func(t string) int {
		if t == direct {
			return 0
		}
		return h.proxy(t).proc.pid()
	}
	var err error
	res.http, err = h.wrkRuns(ctx, res, "http", h.targets(true), h.url, pid)
	return err
}

// wrkScript is where the harness writes rooms.lua.
func (h *harness) wrkScript() string { return filepath.Join(h.cfg.work, "rooms.lua") }

// wrkArgs are wrk's arguments for a run of d against url, as in figure 1.
func (h *harness) wrkArgs(url string, d time.Duration) []string {
	return []string{"-t", strconv.Itoa(h.cfg.httpThreads), "-c", strconv.Itoa(h.cfg.httpConns),
		"-d", secs(d), "--latency", "-s", h.wrkScript(), url, "--", strconv.Itoa(h.cfg.rooms)}
}

// wrkCommand is the wrk command of figure 1 as the report shows it.
func (h *harness) wrkCommand() string {
	cmd := "wrk " + strings.Join(h.wrkArgs(h.url(anyTarget), h.cfg.httpDuration), " ")
	return strings.ReplaceAll(cmd, h.wrkScript(), "test/bench/rooms.lua")
}

// wrkRun runs wrk against url for d and returns its output, which is kept as raw/<name>.txt
// when name is not empty.
func (h *harness) wrkRun(ctx context.Context, name, url string, d time.Duration) ([]byte, error) {
	out, err := runTool(ctx, filepath.Join(h.logs, "tools.log"), "wrk", h.wrkArgs(url, d)...)
	if err != nil || name == "" {
		return out, err
	}
	return out, os.WriteFile(filepath.Join(h.raw, name+".txt"), out, 0o644)
}

// wrkRuns measures figure with wrk as in figure 1 against targets, reached at url(target),
// whose proxies' first processes are pid(target) (0 for none): a warm-up run each, then
// reps runs each, interleaved.
func (h *harness) wrkRuns(ctx context.Context, res *results, figure string, targets []string,
	url func(string) string, pid func(string) int) (map[string][]bench.WrkResult, error) {
	for _, t := range targets {
		if _, err := h.wrkRun(ctx, "", url(t), 2*h.cfg.warmup); err != nil {
			return nil, err
		}
	}
	runs := map[string][]bench.WrkResult{}
	for rep := range h.cfg.reps {
		for _, t := range rotated(targets, rep) {
			var out []byte
			err := h.measureProc(res, figure, t, pid(t), func() (err error) {
				out, err = h.wrkRun(ctx, fmt.Sprintf("%s-wrk-%s-%d", figure, t, rep), url(t), h.cfg.httpDuration)
				return err
			})
			if err != nil {
				return nil, err
			}
			r, err := bench.ParseWrk(out)
			if err != nil {
				return nil, err
			}
			logf("   %-8s %9.0f req/s  p50 %-9s p99 %s", t, r.Throughput, r.P50, r.P99)
			runs[t] = append(runs[t], r)
		}
	}
	return runs, nil
}

// httpLoadArgs are httpload's arguments for target at rate.
func (h *harness) httpLoadArgs(target string, rate float64, d time.Duration) []string {
	return []string{"-targets", h.addr(target), "-rate", strconv.FormatFloat(rate, 'f', 0, 64),
		"-duration", secs(d), "-warmup", secs(h.cfg.warmup), "-conns", strconv.Itoa(h.cfg.httpConns),
		"-rooms", strconv.Itoa(h.cfg.rooms)}
}

// httpFixedRate: httpload at half of nginx's closed-loop throughput against every target.
func (h *harness) httpFixedRate(ctx context.Context, res *results) error {
	res.fixedRate = float64(int(median(values(res.http[nginx], func(r bench.WrkResult) float64 { return r.Throughput }))/2/100) * 100)
	if res.fixedRate < 100 {
		return fmt.Errorf("nginx's throughput %v is too low to measure at half of it", res.fixedRate)
	}
	res.commands.fixed = "httpload " + strings.Join(h.httpLoadArgs(anyTarget, res.fixedRate, h.cfg.httpDuration), " ")
	res.fixed = map[string][]bench.LoadResult{}
	for rep := range h.cfg.reps {
		for _, t := range rotated(h.targets(true), rep) {
			var r bench.LoadResult
			if err := h.measure(res, "fixed", t, func() error {
				return h.tool(ctx, fmt.Sprintf("http-rate-%s-%d", t, rep), &r, "httpload", h.httpLoadArgs(t, res.fixedRate, h.cfg.httpDuration)...)
			}); err != nil {
				return err
			}
			logf("   %-8s %9.0f req/s  p50 %-9s p99 %-9s errors %d", t, r.Throughput, r.Latency.P50, r.Latency.P99, r.Failed+r.BadStatus)
			res.fixed[t] = append(res.fixed[t], r)
		}
	}
	return nil
}

// upgrades: new WebSocket connections per second, closed loop.
func (h *harness) upgrades(ctx context.Context, res *results) error {
	args := func(t string) []string {
		return []string{"upgrades", "-targets", h.addr(t), "-sources", clientSources,
			"-concurrency", strconv.Itoa(h.cfg.upgradeWorkers), "-duration", secs(h.cfg.upgradeDuration),
			"-warmup", secs(h.cfg.warmup), "-rooms", strconv.Itoa(h.cfg.rooms)}
	}
	res.commands.upgrades = "wsbench " + strings.Join(args(anyTarget), " ")
	res.upgrades = map[string][]bench.LoadResult{}
	for rep := range h.cfg.reps {
		for _, t := range rotated(h.targets(true), rep) {
			var r bench.LoadResult
			if err := h.measure(res, "upgrades", t, func() error {
				return h.tool(ctx, fmt.Sprintf("ws-upgrades-%s-%d", t, rep), &r, "wsbench", args(t)...)
			}); err != nil {
				return err
			}
			logf("   %-8s %9.0f upgrades/s  p50 %-9s p99 %-9s errors %d", t, r.Throughput, r.Latency.P50, r.Latency.P99, r.Failed+r.BadStatus)
			res.upgrades[t] = append(res.upgrades[t], r)
		}
	}
	return nil
}

// roundTrips: WebSocket message round trips at a fixed aggregate rate.
func (h *harness) roundTrips(ctx context.Context, res *results) error {
	args := func(t string) []string {
		return []string{"rtt", "-targets", h.addr(t), "-sources", clientSources,
			"-conns", strconv.Itoa(h.cfg.rttConns), "-rate", strconv.FormatFloat(h.cfg.rttRate, 'f', 0, 64),
			"-duration", secs(h.cfg.rttDuration), "-warmup", secs(h.cfg.warmup), "-rooms", strconv.Itoa(h.cfg.rooms)}
	}
	res.commands.rtt = "wsbench " + strings.Join(args(anyTarget), " ")
	res.rtt = map[string][]bench.LoadResult{}
	for rep := range h.cfg.reps {
		for _, t := range rotated(h.targets(true), rep) {
			var r bench.LoadResult
			if err := h.measure(res, "rtt", t, func() error {
				return h.tool(ctx, fmt.Sprintf("ws-rtt-%s-%d", t, rep), &r, "wsbench", args(t)...)
			}); err != nil {
				return err
			}
			logf("   %-8s %9.0f msg/s  p50 %-9s p99 %-9s errors %d", t, r.Throughput, r.Latency.P50, r.Latency.P99, r.Failed+r.BadStatus)
			res.rtt[t] = append(res.rtt[t], r)
		}
	}
	return nil
}

// ringRun is a fixed-rate HTTP run while the ring changed every second.
type ringRun struct {
	bench.LoadResult
	// Changes counts the ring changes made during the run; Applied those the proxy took.
	Changes, Applied int
}

// ringChanges: each proxy under fixed-rate HTTP load, steady and while its ring changes every
// second. The rate is half the slowest proxy's closed-loop throughput, so that no proxy is
// saturated when steady and the difference is the cost of the changes.
func (h *harness) ringChanges(ctx context.Context, res *results) error {
	slowest := 0.0
	for _, t := range h.targets(false) {
		if m := median(values(res.http[t], func(r bench.WrkResult) float64 { return r.Throughput })); slowest == 0 || m < slowest {
			slowest = m
		}
	}
	res.ringRate = float64(int(slowest/2/100) * 100)
	if res.ringRate < 100 {
		return fmt.Errorf("the slowest proxy's throughput %v is too low to measure at half of it", slowest)
	}
	res.commands.ring = "httpload " + strings.Join(h.httpLoadArgs(anyTarget, res.ringRate, h.cfg.ringDuration), " ")
	res.ringSteady, res.ring = map[string][]bench.LoadResult{}, map[string][]ringRun{}
	for rep := range h.cfg.reps {
		for _, t := range rotated(h.targets(false), rep) {
			var steady bench.LoadResult
			if err := h.measure(res, "ring-steady", t, func() error {
				return h.tool(ctx, fmt.Sprintf("ring-steady-%s-%d", t, rep), &steady, "httpload", h.httpLoadArgs(t, res.ringRate, h.cfg.ringDuration)...)
			}); err != nil {
				return err
			}
			res.ringSteady[t] = append(res.ringSteady[t], steady)
			p := h.proxy(t)
			var r ringRun
			if err := h.measure(res, "ring", t, func() error {
				changed := make(chan [2]int, 1)
				flipCtx, stopFlips := context.WithCancel(ctx)
				go func() { changed <- flipEverySecond(flipCtx, p) }()
				err := h.tool(ctx, fmt.Sprintf("ring-changing-%s-%d", t, rep), &r.LoadResult, "httpload", h.httpLoadArgs(t, res.ringRate, h.cfg.ringDuration)...)
				stopFlips()
				counts := <-changed
				r.Changes, r.Applied = counts[0], counts[1]
				if err != nil {
					return err
				}
				_, err = p.changeRing(ctx, 0)
				return err
			}); err != nil {
				return err
			}
			logf("   %-8s p99 steady %-9s changing %-9s errors %d retries %d, %d of %d ring changes applied", t,
				steady.Latency.P99, r.Latency.P99, r.Failed+r.BadStatus, r.Retries, r.Applied, r.Changes)
			res.ring[t] = append(res.ring[t], r)
		}
	}
	return nil
}

// flipEverySecond alternates p's ring between the two variants every second until ctx ends
// and returns how many changes it made and how many the proxy applied.
func flipEverySecond(ctx context.Context, p *proxy) [2]int {
	var counts [2]int
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for v := ringVariant(1); ; v = 1 - v {
		select {
		case <-ctx.Done():
			return counts
		case <-tick.C:
		}
		applied, err := p.changeRing(ctx, v)
		if err != nil {
			logf("   changing %s's ring: %v", p.name, err)
		}
		counts[0]++
		if applied {
			counts[1]++
		}
	}
}

// idleSet is the idle-WebSocket measurement at one connection count.
type idleSet struct {
	Conns int
	// Instances is how many processes of each proxy held them (see perProcess).
	Instances int
	// Groups is how many groups of backends the instances were in front of (see
	// backendGroups): instance k in front of group k mod Groups.
	Groups  int
	ByProxy map[string][]bench.IdleResult
	// Errors says why a proxy could not be measured at this count, by proxy: the report shows
	// it instead of a number, and the run goes on.
	Errors map[string]string
	// Took is how long the count's measurements took, the backends' start included.
	Took time.Duration
}

// ephemeralPorts is the size of the ephemeral port range, or Linux's default when it cannot
// be read.
func ephemeralPorts() int {
	data, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 60999 - 32768 + 1
	}
	return parsePortRange(string(data))
}

// parsePortRange is the size of the range in ip_local_port_range's format ("32768	60999"),
// or Linux's default when it is malformed.
func parsePortRange(s string) int {
	f := strings.Fields(s)
	if len(f) == 2 {
		lo, err1 := strconv.Atoi(f[0])
		hi, err2 := strconv.Atoi(f[1])
		if err1 == nil && err2 == nil && hi >= lo && lo > 0 {
			return hi - lo + 1
		}
	}
	return 60999 - 32768 + 1
}

// perBackend is how many idle WebSockets one backend process may hold on average, for
// backendGroups: two thirds of what its open-files limit allows (less a margin for its own
// files), and of the ephemeral ports, since every proxy connects to a backend's address from
// 127.0.0.1 and one (source, destination) pair has at most ports connections. The third left
// over is for the proxies' consistent hashes, which put more rooms on some members than on others.
func perBackend(nofile, ports int) int { return min(nofile-1000, ports) * 2 / 3 }

// backendGroups is how many groups of backends (as many as backendAddrs each) conns idle
// WebSockets need so that no backend process holds more than perBackend on average.
func backendGroups(conns, nofile, ports int) int {
	per := len(backendAddrs) * max(perBackend(nofile, ports), 1)
	return max((conns+per-1)/per, 1)
}

// perProcess is how many proxied WebSockets one proxy process can hold under the open-files
// limit: each takes two descriptors (client and backend side).
func (h *harness) perProcess() int { return (h.nofile - 1000) / 2 / 1000 * 1000 }

// idleArgs are wsbench's arguments to open conns idle WebSockets through addrs and measure
// the RSS of pids.
func (h *harness) idleArgs(addrs string, conns int, pids string) []string {
	return []string{"idle", "-targets", addrs, "-sources", clientSources, "-conns", strconv.Itoa(conns),
		"-concurrency", "64", "-settle", secs(h.cfg.idleSettle), "-pids", pids, "-rooms", strconv.Itoa(h.cfg.rooms)}
}

// idle: proxy memory per idle WebSocket. Counts that one process cannot hold under the
// open-files limit are spread evenly over several instances of the proxy, and their RSS summed;
// counts that the four backends cannot hold put the instances in front of several groups of
// backends.
func (h *harness) idle(ctx context.Context, res *results) error {
	res.commands.idle = "wsbench " + strings.Join(h.idleArgs(anyTarget, 0, "$PROXY_PIDS"), " ")
	res.commands.idle = strings.Replace(res.commands.idle, "-conns 0", "-conns $N", 1)
	res.perProcess = h.perProcess()
	res.perBackend = perBackend(h.nofile, h.ports)
	targets := h.cfg.idleProxies
	if len(targets) == 0 {
		targets = h.targets(false)
	}
	for _, n := range h.cfg.idleConns {
		set := idleSet{Conns: n, Instances: (n + h.perProcess() - 1) / h.perProcess(),
			Groups: backendGroups(n, h.nofile, h.ports), ByProxy: map[string][]bench.IdleResult{}}
		if err := h.idleCount(ctx, res, &set, targets); err != nil {
			return err
		}
		res.idle = append(res.idle, set)
	}
	return nil
}

// idleCount measures set.Conns idle WebSockets through each of targets, with the groups of
// backends beyond the first started for the set only.
func (h *harness) idleCount(ctx context.Context, res *results, set *idleSet, targets []string) error {
	began := time.Now()
	defer func() { set.Took = time.Since(began).Round(time.Second) }()
	groups := [][]string{backendAddrs}
	var extra []*proc
	defer func() {
		for _, b := range extra {
			b.stop()
		}
	}()
	for g := 1; g < set.Groups; g++ {
		addrs := groupAddrs(g)
		for i, addr := range addrs {
			name := fmt.Sprintf("g%d-b%d", g, i)
			p, err := startProc(h.logs, "backend-"+name, h.bin("backend"), "-name", fmt.Sprintf("b%d", i), "-listen", addr)
			if err != nil {
				return err
			}
			extra = append(extra, p)
			if err := p.waitTCP(addr); err != nil {
				return err
			}
		}
		groups = append(groups, addrs)
	}
	if set.Groups > 1 {
		logf("   %d connections: %d instances of each proxy, in front of %d groups of %d backends",
			set.Conns, set.Instances, set.Groups, len(backendAddrs))
	}
	for rep := range h.cfg.reps {
		for _, t := range rotated(targets, rep) {
			if set.Errors[t] != "" {
				continue
			}
			began := time.Now()
			r, other, err := h.idleOnce(ctx, t, *set, groups, rep)
			if err != nil {
				if ctx.Err() != nil {
					return err
				}
				// One proxy failing at one count (say, at the largest) costs its cells, not the run.
				logf("   %-8s %d conns: not measured: %v", t, set.Conns, err)
				if set.Errors == nil {
					set.Errors = map[string]string{}
				}
				set.Errors[t] = err.Error()
				continue
			}
			// Memory does not depend on other processes' CPU use: no repeats.
			res.addOther(fmt.Sprintf("idle-%d", set.Conns), t, other)
			logf("   %-8s %d conns over %d: %.0f bytes/conn (RSS %d -> %d MiB), %d failed, %d echoed, in %s",
				t, set.Conns, set.Instances, r.BytesPerConn, r.RSSBefore>>20, r.RSSAfter>>20, r.Failed, r.Echoed,
				time.Since(began).Round(100*time.Millisecond))
			set.ByProxy[t] = append(set.ByProxy[t], r)
		}
	}
	return nil
}

// idleOnce measures proxy t with set.Conns idle WebSockets spread evenly over set.Instances
// freshly started instances in front of groups of backends, each of which first echoes one
// WebSocket. It returns the result and the share of the CPUs other processes took meanwhile.
func (h *harness) idleOnce(ctx context.Context, t string, set idleSet, groups [][]string, rep int) (bench.IdleResult, float64, error) {
	var r bench.IdleResult
	ps, err := h.instances(t, set.Instances, groups)
	if err != nil {
		return r, 0, err
	}
	defer stopAll(ps)
	var addrs []string
	var pids []int
	for _, p := range ps {
		if err := echoOnce(ctx, p.listen); err != nil {
			return r, 0, err
		}
		pp, err := p.pids()
		if err != nil {
			return r, 0, err
		}
		addrs, pids = append(addrs, p.listen), append(pids, pp...)
	}
	before, after, err := sampled(func() error {
		return h.tool(ctx, fmt.Sprintf("ws-idle-%d-%s-%d", set.Conns, t, rep), &r, "wsbench",
			h.idleArgs(strings.Join(addrs, ","), set.Conns, joinInts(pids))...)
	}, 0)
	return r, otherCPU(before, after, h.cpus), err
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

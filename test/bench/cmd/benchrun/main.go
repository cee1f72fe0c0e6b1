// Command benchrun runs the StableRing benchmarks and writes docs/benchmarks.md. It starts
// four backends, nginx, HAProxy and the gateway on loopback addresses, runs every figure
// against every target (the direct connection to the backends being the physical limit),
// repeating each measurement -reps times with the targets interleaved, and writes the
// report with the spread over the repetitions. Figure 1 is measured a second time with a C
// backend that is never the bottleneck (nginx answering `return 200`), with the proxies'
// system calls counted by perf stat. hack/bench.sh (make bench) builds the binaries it needs
// and runs it; see there for the requirements.
//
// Usage:
//
//	benchrun -bin DIR -work DIR -report docs/benchmarks.md [-quick]
//	benchrun -bin DIR -work DIR -report FILE -only idle [-idle-conns 100000] [-idle-proxies gateway]
//
// -only idle measures figure 4 alone (after the routing check) and writes a report of it
// alone, for validating the idle figure, such as its largest count, without the full run;
// -idle-conns and -idle-proxies replace the figure's connection counts and the proxies it
// measures.
//
// -bin holds gateway, backend, httpload and wsbench; nginx, haproxy, wrk, go and (when
// installed) perf come from PATH. -work receives the rendered configurations, logs and raw results.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// config is what to measure and for how long.
type config struct {
	bin, work, report string
	// command is how the report says to regenerate it.
	command string
	quick   bool
	// only is "idle" to measure figure 4 alone, or empty for every figure.
	only string

	reps   int
	warmup time.Duration
	// HTTP: wrk's threads and connections and httpload's connections; rooms for every tool.
	httpDuration           time.Duration
	httpThreads, httpConns int
	rooms                  int
	// WebSocket upgrades: closed loop with upgradeWorkers.
	upgradeDuration time.Duration
	upgradeWorkers  int
	// Idle WebSockets: the connection counts asked for, and the wait before reading VmRSS.
	idleConns  []int
	idleSettle time.Duration
	// idleProxies are the proxies figure 4 measures; empty for all.
	idleProxies []string
	// Message round trips: rttConns connections carrying rttRate messages per second.
	rttDuration time.Duration
	rttConns    int
	rttRate     float64
	// Ring changes: one per second for ringDuration, after as long steady.
	ringDuration time.Duration
	// Profiles of the gateway.
	profileDuration time.Duration
}

// presets are the default (full) run and the quick run used to validate the harness.
func presets(quick bool) config {
	if quick {
		return config{
			quick: true, reps: 2, warmup: 500 * time.Millisecond,
			httpDuration: 2 * time.Second, httpThreads: 2, httpConns: 64, rooms: 1000,
			upgradeDuration: 2 * time.Second, upgradeWorkers: 64,
			idleConns: []int{1000}, idleSettle: time.Second,
			rttDuration: 2 * time.Second, rttConns: 200, rttRate: 2000,
			ringDuration:    2 * time.Second,
			profileDuration: 3 * time.Second,
		}
	}
	return config{
		reps: 3, warmup: time.Second,
		httpDuration: 10 * time.Second, httpThreads: 2, httpConns: 64, rooms: 1000,
		upgradeDuration: 5 * time.Second, upgradeWorkers: 64,
		idleConns: []int{1000, 10000, 50000, 100000}, idleSettle: 3 * time.Second,
		rttDuration: 5 * time.Second, rttConns: 1000, rttRate: 5000,
		ringDuration:    8 * time.Second,
		profileDuration: 10 * time.Second,
	}
}

func main() {
	bin := flag.String("bin", "", "directory of the gateway, backend, httpload and wsbench binaries")
	work := flag.String("work", "", "directory for configurations, logs and raw results")
	report := flag.String("report", "docs/benchmarks.md", "report to write")
	command := flag.String("command", "make bench", "the command that regenerates the report, as the report shows it")
	quick := flag.Bool("quick", false, "short runs (about three minutes) to validate the harness")
	reps := flag.Int("reps", 0, "repetitions of every measurement (default 3, quick 2)")
	only := flag.String("only", "", `"idle": measure figure 4 alone and write a report of it alone`)
	idleConns := flag.String("idle-conns", "", "comma-separated connection counts of figure 4 (default 1000,10000,50000,100000; quick 1000)")
	idleProxies := flag.String("idle-proxies", "", "comma-separated proxies figure 4 measures (default nginx,haproxy,gateway)")
	flag.Parse()
	if *bin == "" || *work == "" {
		fmt.Fprintln(os.Stderr, "benchrun: -bin and -work are required")
		os.Exit(2)
	}
	cfg := presets(*quick)
	cfg.bin, cfg.work, cfg.report, cfg.command = *bin, *work, *report, *command
	if *reps > 0 {
		cfg.reps = *reps
	}
	if err := cfg.setIdle(*only, *idleConns, *idleProxies); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	err := run(ctx, cfg)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
}

// setIdle applies the flags -only, -idle-conns and -idle-proxies (empty when not given).
func (cfg *config) setIdle(only, conns, proxies string) error {
	if only != "" && only != "idle" {
		return fmt.Errorf("-only %q: only idle is supported", only)
	}
	cfg.only = only
	if conns != "" {
		cfg.idleConns = nil
		for f := range strings.SplitSeq(conns, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				return fmt.Errorf("-idle-conns: %q is not a positive count", f)
			}
			cfg.idleConns = append(cfg.idleConns, n)
		}
	}
	if proxies != "" {
		cfg.idleProxies = nil
		for f := range strings.SplitSeq(proxies, ",") {
			name := strings.TrimSpace(f)
			if name != nginx && name != haproxy && name != gw {
				return fmt.Errorf("-idle-proxies: %q is none of nginx, haproxy and gateway", name)
			}
			if !slices.Contains(cfg.idleProxies, name) {
				cfg.idleProxies = append(cfg.idleProxies, name)
			}
		}
	}
	return nil
}

// run measures everything and writes the report.
func run(ctx context.Context, cfg config) error {
	h, err := newHarness(cfg)
	if err != nil {
		return err
	}
	defer h.close()
	res := &results{cfg: cfg, start: time.Now(), loadStart: loadAverage(), machine: probeMachine(h)}
	if err := h.startAll(); err != nil {
		return err
	}
	type step struct {
		name string
		run  func(context.Context, *results) error
	}
	steps := []step{
		{"routing check", h.checkRouting},
		{"HTTP, closed loop (wrk)", h.httpClosedLoop},
		{"HTTP with the C backend (wrk, perf, profile)", h.cBackend},
		{"HTTP, fixed rate", h.httpFixedRate},
		{"WebSocket upgrades", h.upgrades},
		{"WebSocket round trips", h.roundTrips},
		{"ring changes under load", h.ringChanges},
		{"idle WebSockets", h.idle},
		{"gateway profiles", h.profiles},
	}
	if cfg.only == "idle" {
		steps = slices.DeleteFunc(steps, func(s step) bool { return s.name != "routing check" && s.name != "idle WebSockets" })
	}
	for _, s := range steps {
		began := time.Now()
		logf("== %s", s.name)
		if err := s.run(ctx, res); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		logf("   %s took %s", s.name, time.Since(began).Round(time.Second))
	}
	res.end, res.loadEnd = time.Now(), loadAverage()
	if err := writeReport(cfg.report, res); err != nil {
		return err
	}
	logf("wrote %s in %s", cfg.report, res.end.Sub(res.start).Round(time.Second))
	return nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

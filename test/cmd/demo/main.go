// Command demo is `make demo`: on one machine it starts a local control plane with a simulated
// node, installs the StableRing CRD, RBAC, manager and gateways, deploys the chat example (6
// replicas, OnDelete) behind a StableRing (batchSize 2), puts load on it through the gateways and,
// in the same run, through an IP-keyed router (a consistent-hash ring of pod addresses, as
// ingress-nginx's upstream-hash-by), triggers a rollout, shows its progress the way
// `kubectl get sr -w` would, and ends with both load generators' summaries side by side. On a
// real node a third column shows StableRing with resume (spec.connections.resume): a second
// chat StatefulSet behind a ring with resume on, under the same load and the same rollout.
// Everything it starts stops when it ends or on Ctrl-C.
//
//	make demo                  # builds the control plane binaries first if needed
//	go run ./test/cmd/demo -h  # the knobs: replicas, batch size, connections, ...
//
// The summaries, with per-second timelines and per-connection records, are written as JSON to
// .localcluster/demo-summary.json, and the processes' logs to .localcluster/demo-logs.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/stablering/stablering/cmd/stablering/loadgen"
	"github.com/stablering/stablering/test/e2e/harness"
	"github.com/stablering/stablering/test/realnode"
)

type config struct {
	replicas     int
	batchSize    int
	drainSeconds int
	connections  int
	rooms        int
	warmup       time.Duration
	settle       time.Duration
	out          string
	verbose      bool
	resume       bool
}

func main() {
	var cfg config
	flag.IntVar(&cfg.replicas, "replicas", 6, "chat StatefulSet replicas")
	flag.IntVar(&cfg.batchSize, "batch-size", 2, "StableRing rollout batch size")
	flag.IntVar(&cfg.drainSeconds, "drain-seconds", 4, "StableRing rollout drainSeconds")
	flag.IntVar(&cfg.connections, "connections", 600, "connections of each load generator")
	flag.IntVar(&cfg.rooms, "rooms", 60, "rooms of each load generator")
	flag.DurationVar(&cfg.warmup, "warmup", 8*time.Second, "load before the rollout starts")
	flag.DurationVar(&cfg.settle, "settle", 8*time.Second, "load after the rollout completes")
	flag.StringVar(&cfg.out, "out", filepath.Join(".localcluster", "demo-summary.json"), "where to write the summaries as JSON")
	flag.BoolVar(&cfg.verbose, "v", false, "log the harness, the simulated node and the processes")
	flag.BoolVar(&cfg.resume, "resume", true, "on a real node, also roll out a second chat behind a ring with resume on (a third column)")
	flag.Parse()

	os.Exit(runMain(cfg))
}

// runMain runs the demo until it ends or SIGINT or SIGTERM, and returns the exit code.
func runMain(cfg config) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, cfg)
	switch {
	case ctx.Err() != nil:
		fmt.Println("\ninterrupted; everything the demo started has been stopped")
		if err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "demo:", err)
		}
		return 130
	case err != nil:
		fmt.Fprintln(os.Stderr, "demo:", err)
		return 1
	}
	return 0
}

// printer serialises the output lines of the demo's goroutines.
type printer struct {
	mu    sync.Mutex
	start time.Time
}

func (p *printer) line(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Printf("[%5.1fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, cfg config) (err error) {
	out := &printer{start: time.Now()}
	log := logr.Discard()
	if cfg.verbose {
		log = funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, prefix, args) }, funcr.Options{})
	}
	logf.SetLogger(log)
	fmt.Printf(`StableRing demo: a rolling update of a %d-pod WebSocket chat (StatefulSet, OnDelete) under load,
through StableRing (batchSize %d) and, in the same run and on the same pods, through an IP-keyed
consistent-hash ring (pod addresses, failover on loss, as ingress-nginx upstream-hash-by).

`, cfg.replicas, cfg.batchSize)
	logDir := filepath.Join(".localcluster", "demo-logs")
	if err := os.RemoveAll(logDir); err != nil { // the processes append to their logs
		return err
	}
	c, err := harness.Start(ctx, harness.Options{Log: log, Progress: func(s string) { out.line("%s", s) }, KeepLogs: true, LogDir: logDir})
	if err != nil {
		return err
	}
	out.line("node: %s", nodeDescription(c))
	defer func() {
		out.line("stopping the pods, the %s node and the control plane", c.Node)
		err = errors.Join(err, c.Stop())
		if left := c.Leftovers(context.Background()); len(left) > 0 {
			err = errors.Join(err, fmt.Errorf("left behind: %s", strings.Join(left, "; ")))
		} else {
			out.line("clean: nothing of the run is left on the machine; the control plane is stopped")
		}
	}()
	if err := c.Install(ctx); err != nil {
		return err
	}
	app := harness.App{Namespace: "default", Name: "chat"}
	ring := harness.RingOptions{BatchSize: cfg.batchSize, DrainSeconds: int32(cfg.drainSeconds), HoldSeconds: 10, MaxConnectsPerSecond: 100}
	if err := c.DeployChat(ctx, app, int32(cfg.replicas), ring); err != nil {
		return err
	}
	addrs, err := c.GatewayAddrs(ctx)
	if err != nil {
		return err
	}
	var resumed *resumeRun
	if cfg.resume && c.Real != nil {
		if resumed, err = deployResume(ctx, c, cfg, ring, addrs); err != nil {
			return err
		}
		defer resumed.removeState()
		out.line("and the same chat behind a ring with resume on, in namespace %s for Host %s", resumeApp.Namespace, resumeHost)
	}
	baseline, err := c.StartBaseline(ctx, app)
	if err != nil {
		return err
	}
	defer baseline.Stop()
	out.line("gateways at %s; IP-keyed router at %s", strings.Join(addrs, ", "), baseline.Addr)

	var rolloutStart, rolloutEnd time.Duration
	rec, err := c.Record(ctx, app, int32(cfg.replicas), func(s harness.RingSample) {
		out.line("%s", s.Line)
	})
	if err != nil {
		return err
	}

	out.line("starting the load: %d connections over %d rooms through the gateways, and %d over %d other rooms through the IP-keyed router; a message every 2s each",
		cfg.connections, cfg.rooms, cfg.connections, cfg.rooms)
	srLoad := harness.StartLoad(ctx, harness.LoadConfig(harness.GatewayURLs(addrs), cfg.connections, cfg.rooms))
	ipLoad := harness.StartLoad(ctx, harness.LoadConfig([]string{baseline.URL("ip-")}, cfg.connections, cfg.rooms))
	resumed.startLoad(ctx, cfg)
	stopped := false
	stopLoads := func() (*loadgen.Summary, *loadgen.Summary, error) {
		stopped = true
		a, errA := srLoad.Stop()
		b, errB := ipLoad.Stop()
		return a, b, errors.Join(errA, errB, resumed.stopLoad())
	}
	defer func() {
		if !stopped {
			_, _, _ = stopLoads()
		}
	}()
	tickCtx, stopTicks := context.WithCancel(ctx)
	defer stopTicks()
	go ticker(tickCtx, out, srLoad, ipLoad)

	if !sleep(ctx, cfg.warmup) {
		return ctx.Err()
	}
	fmt.Println()
	out.line("triggering a rollout (new pod template); %s", harness.StatesLegend)
	out.line("%s", harness.RingHeader)
	rec.ResetMaxDown()
	rolloutStart = rec.Since()
	if err := c.TriggerRollout(ctx, app, "1"); err != nil {
		return err
	}
	if err := resumed.rollout(ctx, c); err != nil {
		return err
	}
	if err := c.WaitRolloutComplete(ctx, app, int32(cfg.replicas), 5*time.Minute); err != nil {
		return err
	}
	if err := resumed.waitRollout(ctx, c, cfg); err != nil {
		return err
	}
	rolloutEnd = rec.Since()
	maxDown := rec.MaxDown()
	out.line("rollout complete in %.1fs; letting the load settle for %s", (rolloutEnd - rolloutStart).Seconds(), cfg.settle)
	if !sleep(ctx, cfg.settle) {
		return ctx.Err()
	}
	// Connections still waiting out a Retry-After or a backoff come back before the books close.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if srLoad.Latest().Live == cfg.connections && ipLoad.Latest().Live == cfg.connections && resumed.live(cfg) {
			break
		}
		if !sleep(ctx, 500*time.Millisecond) {
			return ctx.Err()
		}
	}
	stopTicks()
	sr, ip, err := stopLoads()
	if err != nil {
		return err
	}
	fmt.Println()
	writeTable(os.Stdout, sr, ip, resumed.summary(), maxDown, cfg.replicas, (rolloutEnd - rolloutStart).Seconds())
	if err := writeJSON(cfg.out, sr, ip, resumed.summary(), rec, maxDown, (rolloutEnd - rolloutStart).Seconds()); err != nil {
		return err
	}
	abs, _ := filepath.Abs(cfg.out)
	fmt.Printf("\nsummaries, per-second timelines and per-connection records: %s\nprocess logs: %s\n\n", abs, c.LogDir)
	return nil
}

// ticker prints a compact line of both load generators every second.
func ticker(ctx context.Context, out *printer, sr, ip *harness.Load) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a, b := sr.Latest(), ip.Latest()
		out.line("  load  StableRing: live %4d disc %3d held %3d split-rooms %2d | IP-keyed: live %4d disc %3d split-rooms %2d split-s %6.1f",
			a.Live, a.Disconnects, a.HeldAnswers, a.SplitRooms, b.Live, b.Disconnects, b.SplitRooms, b.RoomSplitSeconds)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// rows returns the side-by-side rows of the final table: StableRing, IP-keyed hashing and, when
// rs is not nil, StableRing with resume.
func rows(sr, ip, rs *loadgen.Summary, maxDown, replicas int, rolloutSeconds float64) [][]string {
	row := func(name string, f func(s *loadgen.Summary) string) []string {
		r := []string{name, f(sr), f(ip)}
		if rs != nil {
			r = append(r, f(rs))
		}
		return r
	}
	// The IP-keyed load runs on StableRing's pods, so it shares their rollout; resume's chat is
	// another StatefulSet rolled out at the same time, whose rollout is not recorded.
	same := func(name, v string) []string {
		return row(name, func(s *loadgen.Summary) string {
			switch s {
			case sr:
				return v
			case ip:
				return v + " (same rollout)"
			}
			return "(rolled out alongside)"
		})
	}
	return [][]string{
		row("connections / rooms", func(s *loadgen.Summary) string { return fmt.Sprintf("%d / %d", s.Connections, s.Rooms) }),
		row("reconnects per connection", func(s *loadgen.Summary) string {
			return fmt.Sprintf("mean %.2f, max %d", s.Reconnects.Mean, s.Reconnects.Max)
		}),
		row("connections that reconnected more than once", func(s *loadgen.Summary) string {
			return fmt.Sprint(s.Reconnects.ByCount[2] + s.Reconnects.ByCount[3])
		}),
		row("connections whose pod changed", func(s *loadgen.Summary) string { return fmt.Sprint(s.ConnectionsPodChanged) }),
		row("rooms that changed owner", func(s *loadgen.Summary) string {
			return fmt.Sprintf("%d of %d", s.RoomsChangedOwner, s.Rooms)
		}),
		row("room-split seconds", func(s *loadgen.Summary) string { return fmt.Sprintf("%.1f", s.RoomSplitSeconds) }),
		row("peak disconnects in one second", func(s *loadgen.Summary) string {
			return fmt.Sprintf("%d (%.1f%% of connections)", s.PeakDisconnects.Disconnects, 100*s.PeakDisconnects.Share)
		}),
		row("held answers (503)", func(s *loadgen.Summary) string { return fmt.Sprint(s.HeldAnswers) }),
		row("failed connection attempts", func(s *loadgen.Summary) string { return fmt.Sprint(s.ConnectErrors) }),
		row("messages sent / lost", func(s *loadgen.Summary) string {
			return fmt.Sprintf("%d / %d", s.Messages.Sent, s.Messages.Lost)
		}),
		same("max pods down at once", fmt.Sprintf("%d of %d", maxDown, replicas)),
		same("rollout duration", fmt.Sprintf("%.1fs", rolloutSeconds)),
	}
}

func writeTable(w io.Writer, sr, ip, rs *loadgen.Summary, maxDown, replicas int, rolloutSeconds float64) {
	fmt.Fprintln(w, "Summary of the rollout under load:")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.Debug)
	header := []string{"metric", "StableRing", "IP-keyed hashing"}
	if rs != nil {
		header = append(header, "StableRing with resume")
	}
	rule := make([]string, len(header))
	for i, h := range header {
		rule[i] = strings.Repeat("-", len(h))
	}
	for _, r := range append([][]string{header, rule}, rows(sr, ip, rs, maxDown, replicas, rolloutSeconds)...) {
		fmt.Fprintf(tw, " %s\n", strings.Join(r, "\t "))
	}
	_ = tw.Flush()
}

func writeJSON(path string, sr, ip, rs *loadgen.Summary, rec *harness.Recorder, maxDown int, rolloutSeconds float64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(map[string]any{
		"stableRing":        sr,
		"ipKeyed":           ip,
		"stableRingResume":  rs,
		"maxPodsDownAtOnce": maxDown,
		"rolloutSeconds":    rolloutSeconds,
		"ringTimeline":      strings.Split(strings.TrimSpace(rec.Timeline()), "\n"),
	}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// nodeDescription says which node runs the pods, for the demo's first lines.
func nodeDescription(c *harness.Cluster) string {
	switch c.Node {
	case harness.NodeReal:
		return fmt.Sprintf("real (kubelet %s with containerd; images pulled by digest from a local registry; the chart installed with helm; clients through the gateway Service)", realnode.NodeName)
	case harness.NodeSimulated:
		return "simulated (pods run as local processes on loopback addresses; no containers or Services; set up a real node with root and hack/realnode-packages.sh)"
	default:
		return string(c.Node)
	}
}

// resumeApp and resumeHost are the third column's chat and the Host its load is routed by.
var (
	resumeApp  = harness.App{Namespace: "resume", Name: "chat"}
	resumeHost = "resume.demo.test"
)

// resumeRun is the third column: a second chat behind a ring with resume on, its pods keeping
// their rooms in a directory of the node. A nil *resumeRun does nothing.
type resumeRun struct {
	addrs       []string
	removeState func()
	load        *harness.Load
	sum         *loadgen.Summary
}

// deployResume deploys the third column's chat with ring's settings plus resume.
func deployResume(ctx context.Context, c *harness.Cluster, cfg config, ring harness.RingOptions, addrs []string) (*resumeRun, error) {
	dir, remove, err := harness.ChatStateDir()
	if err != nil {
		return nil, err
	}
	ring.Hosts, ring.Resume, ring.StateDir = []string{resumeHost}, harness.ResumeOptions(), dir
	if err := c.DeployChat(ctx, resumeApp, int32(cfg.replicas), ring); err != nil {
		remove()
		return nil, err
	}
	return &resumeRun{addrs: addrs, removeState: remove}, nil
}

func (r *resumeRun) startLoad(ctx context.Context, cfg config) {
	if r == nil {
		return
	}
	lc := harness.LoadConfig(harness.GatewayURLs(r.addrs), cfg.connections, cfg.rooms)
	lc.Host = resumeHost
	r.load = harness.StartLoad(ctx, lc)
}

func (r *resumeRun) stopLoad() (err error) {
	if r == nil || r.load == nil {
		return nil
	}
	r.sum, err = r.load.Stop()
	return err
}

func (r *resumeRun) rollout(ctx context.Context, c *harness.Cluster) error {
	if r == nil {
		return nil
	}
	return c.TriggerRollout(ctx, resumeApp, "1")
}

func (r *resumeRun) waitRollout(ctx context.Context, c *harness.Cluster, cfg config) error {
	if r == nil {
		return nil
	}
	return c.WaitRolloutComplete(ctx, resumeApp, int32(cfg.replicas), 5*time.Minute)
}

func (r *resumeRun) live(cfg config) bool {
	return r == nil || r.load.Latest().Live == cfg.connections
}

func (r *resumeRun) summary() *loadgen.Summary {
	if r == nil {
		return nil
	}
	return r.sum
}

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/stablering/stablering/test/bench"
)

// profileResult is what the report shows of the gateway's profiles.
type profileResult struct {
	// HTTP is a CPU profile taken during a wrk run as in figure 1 (Wrk).
	HTTP cpuProfile
	Wrk  bench.WrkResult
	// Upgrades is a CPU profile taken during an upgrade storm as in figure 3 (Storm).
	Upgrades cpuProfile
	Storm    bench.LoadResult
	// HeapTop is `go tool pprof -top` of the in-use heap with Idle.Conns idle WebSockets open,
	// Goroutines the number of goroutines then, and Before and After the Go runtime's memory
	// statistics before the connections were opened and with them open.
	HeapTop       string
	Idle          bench.IdleResult
	Goroutines    int
	Before, After memStats
}

// cpuProfile is `go tool pprof -top` of a CPU profile, by flat and by cumulative time, and
// the profile's file, relative to the work directory.
type cpuProfile struct{ File, Flat, Cum string }

// memStats are the runtime.MemStats fields that explain a Go process's RSS.
type memStats struct{ HeapInuse, StackInuse int64 }

// profiles runs a second gateway with --pprof and profiles it under the loads of
// figures 1 and 3 and with idle WebSockets open as in figure 4.
func (h *harness) profiles(ctx context.Context, res *results) error {
	rings := filepath.Join(h.prof, "rings.yaml")
	data, err := os.ReadFile(filepath.Join(h.proxy(gw).dir, "rings.yaml"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(rings, data, 0o644); err != nil {
		return err
	}
	p, err := startProc(h.logs, "gateway-pprof", h.bin("gateway"), "--rings-file", rings,
		"--listen", profAddr, "--admin", profAdmin, "--pprof")
	if err != nil {
		return err
	}
	defer p.stop()
	if err := p.waitTCP(profAddr); err != nil {
		return err
	}
	if err := waitReady("http://"+profAdmin+"/readyz", p); err != nil {
		return err
	}
	d := h.cfg.profileDuration
	var out []byte
	res.profile.HTTP, err = h.cpuProfile(ctx, profAdmin, "http", func() (err error) {
		out, err = h.wrkRun(ctx, "profile-http-wrk", "http://"+profAddr+"/", d+time.Second)
		return err
	})
	if err != nil {
		return err
	}
	if res.profile.Wrk, err = bench.ParseWrk(out); err != nil {
		return err
	}
	res.profile.Upgrades, err = h.cpuProfile(ctx, profAdmin, "upgrades", func() error {
		return h.tool(ctx, "profile-upgrades", &res.profile.Storm, "wsbench", "upgrades", "-targets", profAddr,
			"-sources", clientSources, "-concurrency", strconv.Itoa(h.cfg.upgradeWorkers),
			"-duration", secs(d), "-warmup", "500ms", "-rooms", strconv.Itoa(h.cfg.rooms))
	})
	if err != nil {
		return err
	}
	return h.heapProfile(ctx, res, p.pid())
}

// cpuProfile profiles the gateway whose admin endpoints are at admin for profileDuration
// while load runs, into profiles/<name>.cpu.pprof; load must last half a second longer.
func (h *harness) cpuProfile(ctx context.Context, admin, name string, load func() error) (cpuProfile, error) {
	path := filepath.Join(h.prof, name+".cpu.pprof")
	err := duringLoad(load, func() error {
		return fetch(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", admin, int(h.cfg.profileDuration.Seconds())), path)
	})
	if err != nil {
		return cpuProfile{}, err
	}
	p := cpuProfile{File: filepath.Join(filepath.Base(h.prof), filepath.Base(path))}
	if p.Flat, err = pprofTop(ctx, path, "-nodecount=25"); err != nil {
		return p, err
	}
	p.Cum, err = pprofTop(ctx, path, "-cum", "-nodecount=30")
	return p, err
}

// duringLoad runs measure half a second into load, once the load is steady, and returns the
// first error of the two.
func duringLoad(load, measure func() error) error {
	done := make(chan error, 1)
	go func() { done <- load() }()
	time.Sleep(500 * time.Millisecond)
	measureErr := measure()
	if err := <-done; err != nil {
		return err
	}
	return measureErr
}

// heapProfile profiles the gateway's memory with idle WebSockets open.
func (h *harness) heapProfile(ctx context.Context, res *results, pid int) error {
	n := h.perProcess() // one process
	if len(res.idle) > 0 {
		n = min(n, res.idle[len(res.idle)-1].Conns)
	}
	var err error
	if res.profile.Before, err = readMemStats(); err != nil {
		return err
	}
	args := append(h.idleArgs(profAddr, n, strconv.Itoa(pid)), "-hold", "1m")
	cmd := exec.CommandContext(ctx, h.bin("wsbench"), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = cmd.Process.Kill() // closes the held connections
		_ = cmd.Wait()
	}()
	if err := json.NewDecoder(bufio.NewReader(stdout)).Decode(&res.profile.Idle); err != nil {
		return fmt.Errorf("wsbench idle: %w", err)
	}
	if res.profile.After, err = readMemStats(); err != nil {
		return err
	}
	heap := filepath.Join(h.prof, "heap.pprof")
	if err := fetch("http://"+profAdmin+"/debug/pprof/heap?gc=1", heap); err != nil {
		return err
	}
	goroutines := filepath.Join(h.prof, "goroutines.txt")
	if err := fetch("http://"+profAdmin+"/debug/pprof/goroutine?debug=1", goroutines); err != nil {
		return err
	}
	if res.profile.Goroutines, err = countGoroutines(goroutines); err != nil {
		return err
	}
	res.profile.HeapTop, err = pprofTop(ctx, heap, "-sample_index=inuse_space", "-nodecount=15")
	return err
}

// readMemStats reads HeapInuse and StackInuse from the runtime.MemStats that the text heap
// profile ends with ("# HeapInuse = N", "# Stack = StackInuse / StackSys"), after a
// garbage collection.
func readMemStats() (memStats, error) {
	data, err := get("http://" + profAdmin + "/debug/pprof/heap?gc=1&debug=1")
	if err != nil {
		return memStats{}, err
	}
	var m memStats
	for line := range strings.SplitSeq(string(data), "\n") {
		for _, f := range []struct {
			prefix string
			v      *int64
		}{{"# HeapInuse = ", &m.HeapInuse}, {"# Stack = ", &m.StackInuse}} { // "# Stack = inuse / sys"
			if v, ok := strings.CutPrefix(line, f.prefix); ok {
				v, _, _ = strings.Cut(v, " ")
				if *f.v, err = strconv.ParseInt(v, 10, 64); err != nil {
					return m, err
				}
			}
		}
	}
	if m.HeapInuse == 0 || m.StackInuse == 0 {
		return m, fmt.Errorf("no HeapInuse or StackInuse in the heap profile")
	}
	return m, nil
}

// get returns url's body.
func get(url string) ([]byte, error) {
	resp, err := adminClient.Get(url)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// fetch saves url's body to path.
func fetch(url, path string) error {
	data, err := get(url)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// countGoroutines reads the total of a goroutine profile in text form.
func countGoroutines(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var n int
	if _, err := fmt.Sscanf(string(data), "goroutine profile: total %d", &n); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

// pprofTop is `go tool pprof -top` of a profile, without the file and build lines.
func pprofTop(ctx context.Context, profile string, args ...string) (string, error) {
	args = append(append([]string{"tool", "pprof", "-top"}, args...), profile)
	out, err := exec.CommandContext(ctx, "go", args...).Output()
	if err != nil {
		return "", fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	var keep []string
	for line := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		if !strings.HasPrefix(line, "File:") && !strings.HasPrefix(line, "Build ID:") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n"), nil
}

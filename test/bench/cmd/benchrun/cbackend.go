package main

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/stablering/stablering/test/bench"
)

// cBackendResult is figure 1b: figure 1 again with a C backend that is never the bottleneck
// (nginx answering `return 200`), the proxies' system calls per request, and a CPU profile of
// the gateway.
type cBackendResult struct {
	// HTTP are the wrk runs by target, as in figure 1.
	HTTP map[string][]bench.WrkResult
	// Syscalls are the system calls of each proxy during one more wrk run; SyscallsErr says
	// why they were not counted, when they were not.
	Syscalls    map[string]syscallRun
	SyscallsErr string
	// Profile is a CPU profile of the gateway during one more wrk run (ProfileWrk).
	Profile    cpuProfile
	ProfileWrk bench.WrkResult
}

// syscallRun is what `perf stat` counted while wrk ran against a proxy.
type syscallRun struct {
	Counts bench.SyscallCounts
	Wrk    bench.WrkResult
}

// perRequest is n calls per request of the run: n over the requests wrk completed (perf
// counted from just before wrk started until just after it ended).
func (s syscallRun) perRequest(n int64) float64 {
	if s.Wrk.Requests <= 0 {
		return 0
	}
	return float64(n) / float64(s.Wrk.Requests)
}

// cSet is the C backend and the proxies in front of it.
type cSet struct {
	backend *proc
	proxies []*proxy // nginx, haproxy, gateway
}

func (s *cSet) proxy(name string) *proxy { return findProxy(s.proxies, name) }

func (s *cSet) stop() {
	stopAll(s.proxies)
	if s.backend != nil {
		s.backend.stop()
	}
}

// startCSet starts nginx as the C backend on cBackendAddrs and each proxy in front of it, on
// cListenPort of the proxy's address; the gateway serves its profiles.
func (h *harness) startCSet() (*cSet, error) {
	s := &cSet{}
	dir := filepath.Join(h.cfg.work, "cbackend")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return s, err
	}
	data, err := bench.Render(bench.BackendTemplate, bench.ProxyConfig{
		Backends: namedBackends(cBackendAddrs), Workers: h.cpus, MaxConns: h.nofile - 100, NoFile: h.nofile, Dir: dir,
	})
	if err != nil {
		return s, err
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, data, 0o644); err != nil {
		return s, err
	}
	if s.backend, err = startProc(h.logs, "cbackend", "nginx", "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log")); err != nil {
		return s, err
	}
	for _, addr := range cBackendAddrs {
		if err := s.backend.waitTCP(addr); err != nil {
			return s, err
		}
	}
	for _, name := range []string{nginx, haproxy, gw} {
		p := h.newProxy(name, cBackendAddrs, cListenPort, cAdminPort, name+"-cbackend")
		p.pprof = name == gw
		s.proxies = append(s.proxies, p)
		if err := p.start(); err != nil {
			return s, err
		}
	}
	return s, nil
}

// cBackend measures figure 1b: the C backend and the proxies in front of it run only for it.
func (h *harness) cBackend(ctx context.Context, res *results) error {
	s, err := h.startCSet()
	defer s.stop()
	if err != nil {
		return err
	}
	targets := []string{direct, nginx, haproxy, gw}
	url := func(t string) string {
		if t == direct {
			return "http://" + cBackendAddrs[0] + "/"
		}
		return "http://" + s.proxy(t).listen + "/"
	}
	for _, t := range targets {
		addrs := cBackendAddrs
		if t != direct {
			addrs = []string{s.proxy(t).listen}
		}
		if err := checkTarget(ctx, t+" (C backend)", addrs, len(cBackendAddrs), false); err != nil {
			return err
		}
	}
	pid := func(t string) int {
		if t == direct {
			return 0
		}
		return s.proxy(t).proc.pid()
	}
	c := &res.cBackend
	if c.HTTP, err = h.wrkRuns(ctx, res, "cbackend", targets, url, pid); err != nil {
		return err
	}
	if err := h.countSyscalls(ctx, c, s, url); err != nil {
		return err
	}
	var out []byte
	c.Profile, err = h.cpuProfile(ctx, s.proxy(gw).admin, "cbackend-http", func() (err error) {
		out, err = h.wrkRun(ctx, "cbackend-profile-wrk", url(gw), h.cfg.profileDuration+time.Second)
		return err
	})
	if err != nil {
		return err
	}
	c.ProfileWrk, err = bench.ParseWrk(out)
	return err
}

// countSyscalls counts the system calls of each proxy of s with perf stat throughout one wrk
// run as in figure 1. When perf is missing or cannot count system calls here, it says why in
// c.SyscallsErr and counts nothing.
func (h *harness) countSyscalls(ctx context.Context, c *cBackendResult, s *cSet, url func(string) string) error {
	if !installed("perf") {
		c.SyscallsErr = "perf is not installed"
		return nil
	}
	c.Syscalls = map[string]syscallRun{}
	for _, p := range s.proxies {
		pids, err := p.pids()
		if err != nil {
			return err
		}
		var wrk []byte
		var run syscallRun
		run.Counts, c.SyscallsErr, err = h.syscallsDuring("cbackend-syscalls-perf-"+p.name, pids, func() (err error) {
			wrk, err = h.wrkRun(ctx, "cbackend-syscalls-wrk-"+p.name, url(p.name), h.cfg.httpDuration)
			return err
		})
		if err != nil {
			return err
		}
		if c.SyscallsErr != "" {
			c.Syscalls = nil
			logf("   system calls not counted: %s", c.SyscallsErr)
			return nil
		}
		if run.Wrk, err = bench.ParseWrk(wrk); err != nil {
			return err
		}
		logf("   %-8s %.2f system calls per request (%d for %d requests)", p.name,
			run.perRequest(run.Counts.Total), run.Counts.Total, run.Wrk.Requests)
		c.Syscalls[p.name] = run
	}
	return nil
}

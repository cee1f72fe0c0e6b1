package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/stablering/stablering/test/internal/childproc"
	"github.com/stablering/stablering/test/internal/procstat"
)

// proc is a manager or gateway process the harness started.
type proc struct {
	*childproc.Process
	name  string
	admin string // host:port of its metrics endpoint
}

// build compiles the manager and the gateway into dir.
func build(ctx context.Context, dir string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+"/", "./cmd/manager", "./cmd/gateway")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() (string, error) {
	port, err := childproc.FreePort()
	return "127.0.0.1:" + port, err
}

// start runs binary with args and KUBECONFIG=kubeconfig, logging to work/name.log, and waits
// until its metrics answer on admin.
func start(ctx context.Context, name, binary, kubeconfig, work, admin string, args ...string) (*proc, error) {
	log := filepath.Join(work, name+".log")
	cp, err := childproc.StartEnv(binary, args, []string{"KUBECONFIG=" + kubeconfig}, log)
	if err != nil {
		return nil, err
	}
	p := &proc{Process: cp, name: name, admin: admin}
	if err := cp.WaitHealthy(ctx, "http://"+admin+"/metrics", time.Minute); err != nil {
		return nil, errors.Join(fmt.Errorf("%s: %w; see %s", name, err, log), p.stop())
	}
	return p, nil
}

// stop stops the process (SIGTERM, SIGKILL after childproc.StopTimeout) and returns an error
// when it had to be killed or did not exit cleanly.
func (p *proc) stop() error {
	if err := p.Stop(); err != nil {
		return fmt.Errorf("%s: %w", p.name, err)
	}
	if err := p.Err(); err != nil {
		return fmt.Errorf("%s exited: %w", p.name, err)
	}
	return nil
}

// stopAll stops procs, the last started first.
func stopAll(procs []*proc) error {
	var errs []error
	for i := len(procs) - 1; i >= 0; i-- {
		errs = append(errs, procs[i].stop())
	}
	return errors.Join(errs...)
}

// scrape returns the process's Prometheus metrics text.
func (p *proc) scrape(ctx context.Context) (string, error) {
	body, err := p.get(ctx, "/metrics")
	return string(body), err
}

// profileCPU fetches a CPU profile of the process over d (it must serve /debug/pprof/) into path,
// in the background; the returned function waits for it.
func (p *proc) profileCPU(ctx context.Context, d time.Duration, path string) (wait func() error) {
	done := make(chan error, 1)
	go func() {
		body, err := p.get(ctx, fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(d.Seconds())))
		if err == nil {
			err = os.WriteFile(path, body, 0o644)
		}
		done <- err
	}()
	return func() error { return <-done }
}

// get returns the body of path on the process's admin port, an error unless 200 OK.
func (p *proc) get(ctx context.Context, path string) ([]byte, error) {
	url := "http://" + p.admin + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, errors.Join(err, fmt.Errorf("%s: %s", url, resp.Status))
	}
	return body, nil
}

// usage is a process's resident memory and CPU time at one instant.
type usage struct {
	at  time.Time
	rss int64 // bytes
	cpu time.Duration
}

// measure reads the process's usage from /proc.
func (p *proc) measure() (usage, error) {
	u := usage{at: time.Now()}
	var err1, err2 error
	u.rss, err1 = procstat.RSS(p.Pid())
	u.cpu, err2 = procstat.CPU(p.Pid())
	return u, errors.Join(err1, err2)
}

// meanUsage is the mean usage of procs, which must not be empty.
func meanUsage(procs []*proc) (usage, error) {
	mean := usage{at: time.Now()}
	for _, p := range procs {
		u, err := p.measure()
		if err != nil {
			return mean, err
		}
		mean.rss += u.rss / int64(len(procs))
		mean.cpu += u.cpu / time.Duration(len(procs))
	}
	return mean, nil
}

// sampler records the peak RSS of processes until stopped.
type sampler struct {
	mu   sync.Mutex
	peak map[*proc]int64
	stop chan struct{}
	done chan struct{}
}

// sample starts recording the peak RSS of procs every period.
func sample(procs []*proc, period time.Duration) *sampler {
	s := &sampler{peak: map[*proc]int64{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			for _, p := range procs {
				if u, err := p.measure(); err == nil {
					s.mu.Lock()
					s.peak[p] = max(s.peak[p], u.rss)
					s.mu.Unlock()
				}
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// end stops sampling and returns the peak RSS by process.
func (s *sampler) end() map[*proc]int64 {
	close(s.stop)
	<-s.done
	return s.peak
}

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat's CPU times.
const clockTicks = 100

// proc is a manager or gateway process the harness started.
type proc struct {
	name  string
	cmd   *exec.Cmd
	admin string // host:port of its metrics endpoint
	done  chan struct{}
}

// build compiles the manager and the gateway into dir.
func build(ctx context.Context, dir string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+"/", "./cmd/manager", "./cmd/gateway")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String(), nil
}

// start runs binary with args and KUBECONFIG=kubeconfig, logging to work/name.log, and waits
// until its metrics answer on admin.
func start(ctx context.Context, name, binary, kubeconfig, work, admin string, args ...string) (*proc, error) {
	logFile, err := os.Create(filepath.Join(work, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, errors.Join(err, logFile.Close())
	}
	p := &proc{name: name, cmd: cmd, admin: admin, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); _ = logFile.Close(); close(p.done) }()
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := p.scrape(ctx); err == nil {
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited; see %s", name, logFile.Name())
		case <-ctx.Done():
			return nil, errors.Join(ctx.Err(), p.stop())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, errors.Join(fmt.Errorf("%s did not serve metrics on %s", name, admin), p.stop())
		}
	}
}

// stop interrupts the process and waits for it, killing it after 10s; it returns the process's
// exit error when it was not interrupted cleanly.
func (p *proc) stop() error {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("%s exited with status %d", p.name, code)
	}
	return nil
}

// scrape returns the process's Prometheus metrics text.
func (p *proc) scrape(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.admin+"/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return "", errors.Join(err, fmt.Errorf("%s: %s", p.admin, resp.Status))
	}
	return string(body), nil
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
	pid := strconv.Itoa(p.cmd.Process.Pid)
	status, err := os.Open(filepath.Join("/proc", pid, "status"))
	if err != nil {
		return u, err
	}
	defer func() { _ = status.Close() }()
	sc := bufio.NewScanner(status)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return u, err
			}
			u.rss = kb << 10
		}
	}
	stat, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return u, err
	}
	// Fields after the command's closing parenthesis: state is field 3, utime 14, stime 15.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return u, err
	}
	u.cpu = time.Duration(utime+stime) * time.Second / clockTicks
	return u, nil
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

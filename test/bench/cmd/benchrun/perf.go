package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/stablering/stablering/test/bench"
)

// syscallNames are the system calls counted one by one: those a proxy makes per request or
// per connection (reading and writing sockets, waiting for readiness, accepting and dialling)
// and those a Go program makes to schedule goroutines and collect garbage. Every other call
// is counted in the total only.
var syscallNames = []string{
	"read", "write", "readv", "writev", "recvfrom", "sendto", "recvmsg", "sendmsg",
	"epoll_wait", "epoll_pwait", "epoll_pwait2", "epoll_ctl",
	"accept", "accept4", "connect", "socket", "close", "shutdown",
	"getsockopt", "setsockopt", "getsockname", "getpeername", "ioctl", "fcntl",
	"futex", "nanosleep", "clock_nanosleep", "sched_yield", "getpid", "gettid", "tgkill",
	"rt_sigreturn", "rt_sigprocmask", "madvise", "mmap", "munmap", "clock_gettime", "gettimeofday",
	"splice", "pipe2",
}

// perfArgs are perf stat's arguments to count syscallNames, and every system call, made by
// pids, from when it is told "enable" on the FIFO ctl (acknowledged on the FIFO ack) until it
// is told "disable"; it prints the counts when interrupted.
func perfArgs(pids, ctl, ack string) []string {
	events := []string{bench.PerfTotalEvent}
	for _, n := range syscallNames {
		events = append(events, bench.PerfCallEvent(n))
	}
	return []string{"stat", "-x,", "-e", strings.Join(events, ","), "-D", "-1",
		"--control", "fifo:" + ctl + "," + ack, "-p", pids}
}

// perfSession is perf stat attached to running processes, counting only while enabled.
type perfSession struct {
	cmd      *exec.Cmd
	out      bytes.Buffer // perf stat prints on standard error
	ctl, ack *os.File
	exited   chan struct{}
	waitErr  error
}

// perfTimeout bounds how long perf takes to attach, to acknowledge a command and to print.
const perfTimeout = 15 * time.Second

// startPerf attaches perf stat to pids, not counting yet; its control FIFOs are made in dir.
func startPerf(dir string, pids []int) (*perfSession, error) {
	ctl, ack := filepath.Join(dir, "perf-ctl.fifo"), filepath.Join(dir, "perf-ack.fifo")
	s := &perfSession{exited: make(chan struct{})}
	for _, f := range []string{ctl, ack} {
		_ = os.Remove(f)
		if err := syscall.Mkfifo(f, 0o600); err != nil {
			return nil, err
		}
	}
	// Read and write ends at once, so that opening never waits for perf; the poller then
	// bounds every read and write.
	var err error
	if s.ctl, err = os.OpenFile(ctl, os.O_RDWR, 0); err != nil {
		return nil, err
	}
	if s.ack, err = os.OpenFile(ack, os.O_RDWR, 0); err != nil {
		_ = s.ctl.Close()
		return nil, err
	}
	s.cmd = exec.Command("perf", perfArgs(joinInts(pids), ctl, ack)...)
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		s.closeFIFOs()
		return nil, err
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	return s, nil
}

func (s *perfSession) closeFIFOs() {
	_ = s.ctl.Close()
	_ = s.ack.Close()
}

// command sends perf "enable" or "disable" and waits for its acknowledgement.
func (s *perfSession) command(cmd string) error {
	deadline := time.Now().Add(perfTimeout)
	_ = s.ctl.SetWriteDeadline(deadline)
	if _, err := s.ctl.WriteString(cmd + "\n"); err != nil {
		return err
	}
	_ = s.ack.SetReadDeadline(deadline)
	buf := make([]byte, 16)
	n, err := s.ack.Read(buf)
	select {
	case <-s.exited:
		return fmt.Errorf("perf exited: %w: %s", s.waitErr, lastLine(s.out.Bytes()))
	default:
	}
	if err != nil {
		return fmt.Errorf("no acknowledgement of %q from perf: %w", cmd, err)
	}
	if ack := strings.TrimSpace(strings.TrimRight(string(buf[:n]), "\x00")); ack != "ack" { // perf sends "ack\n\x00"
		return fmt.Errorf("perf answered %q to %q", ack, cmd)
	}
	return nil
}

// finish interrupts perf, which prints its counts, and returns its output.
func (s *perfSession) finish() ([]byte, error) {
	defer s.closeFIFOs()
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exited:
	case <-time.After(perfTimeout):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return s.out.Bytes(), errors.New("perf did not exit when interrupted")
	}
	var exit *exec.ExitError
	if s.waitErr != nil && !errors.As(s.waitErr, &exit) { // interrupted, perf exits non-zero
		return s.out.Bytes(), s.waitErr
	}
	return s.out.Bytes(), nil
}

// syscallsDuring counts the system calls pids make while load runs, keeping perf's output as
// raw/<name>.txt. When perf cannot count them here, failure says why; err is load's error or
// the harness's own.
func (h *harness) syscallsDuring(name string, pids []int, load func() error) (counts bench.SyscallCounts, failure string, err error) {
	s, err := startPerf(h.raw, pids)
	if err != nil {
		return counts, "", err
	}
	if enableErr := s.command("enable"); enableErr != nil {
		out, _ := s.finish()
		return counts, fmt.Sprintf("`perf stat` did not start counting: %v: %s", enableErr, lastLine(out)), nil
	}
	loadErr := load()
	disableErr := s.command("disable")
	out, finishErr := s.finish()
	if loadErr != nil {
		return counts, "", loadErr
	}
	if err := os.WriteFile(filepath.Join(h.raw, name+".txt"), out, 0o644); err != nil {
		return counts, "", err
	}
	parseErr := errors.Join(disableErr, finishErr)
	if parseErr == nil {
		counts, parseErr = bench.ParsePerfStat(out)
	}
	if parseErr != nil {
		return counts, fmt.Sprintf("`perf stat` failed: %v: %s", parseErr, lastLine(out)), nil
	}
	return counts, "", nil
}

// installed reports whether bin is on PATH.
func installed(bin string) bool {
	_, err := exec.LookPath(bin)
	return err == nil
}

// lastLine is the last non-empty line of out.
func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}

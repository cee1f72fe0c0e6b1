package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stablering/stablering/test/bench"
)

// readZero makes n read(2) calls: /dev/zero is not pollable, so every Read is one call.
func readZero(t *testing.T, n int) {
	t.Helper()
	zero, err := os.Open("/dev/zero")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = zero.Close() }()
	buf := make([]byte, 8)
	for range n {
		if _, err := zero.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
}

// requirePerf skips the test unless perf can count this process's system calls.
func requirePerf(t *testing.T) *perfSession {
	t.Helper()
	if !installed("perf") {
		t.Skip("perf is not installed")
	}
	s, err := startPerf(t.TempDir(), []int{os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.command("enable"); err != nil {
		_, _ = s.finish()
		t.Skipf("perf cannot count system calls here: %v", err)
	}
	return s
}

// TestPerfSession attaches perf to this process and reads /dev/zero before, while and after
// it counts: it must count the reads made between "enable" and "disable", and no others.
func TestPerfSession(t *testing.T) {
	_, _ = requirePerf(t).finish()
	s, err := startPerf(t.TempDir(), []int{os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	const outside, inside = 2000, 500
	readZero(t, outside) // attached, not counting
	if err := s.command("enable"); err != nil {
		t.Fatal(err)
	}
	readZero(t, inside)
	if err := s.command("disable"); err != nil {
		t.Fatal(err)
	}
	readZero(t, outside)
	out, err := s.finish()
	if err != nil {
		t.Fatal(err)
	}
	counts, err := bench.ParsePerfStat(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := counts.ByCall["read"]; got < inside || got >= inside+outside {
		t.Errorf("perf counted %d reads; %d were made while it counted, %d before and %d after", got, inside, outside, outside)
	}
	if counts.Total < counts.ByCall["read"] || counts.Window <= 0 {
		t.Errorf("counts %+v", counts)
	}
}

// TestSyscallsDuring counts the system calls made during a load and keeps perf's output; a
// load that fails is the harness's error.
func TestSyscallsDuring(t *testing.T) {
	_, _ = requirePerf(t).finish()
	h := &harness{raw: t.TempDir()}
	pids := []int{os.Getpid()}
	counts, failure, err := h.syscallsDuring("test", pids, func() error {
		readZero(t, 300)
		return nil
	})
	if err != nil || failure != "" {
		t.Fatalf("err %v, failure %q", err, failure)
	}
	if counts.ByCall["read"] < 300 {
		t.Errorf("%d reads counted, want at least 300", counts.ByCall["read"])
	}
	if _, err := os.Stat(filepath.Join(h.raw, "test.txt")); err != nil {
		t.Errorf("perf's output was not kept: %v", err)
	}
	loadErr := errors.New("wrk failed")
	if _, _, err := h.syscallsDuring("test", pids, func() error { return loadErr }); !errors.Is(err, loadErr) {
		t.Errorf("a failed load: %v", err)
	}
}

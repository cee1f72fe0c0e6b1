package main

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestOtherCPU(t *testing.T) {
	t0 := time.Now()
	before := cpuSample{at: t0, busy: 1000, ours: 500, kthreads: 10}
	// 10s on 2 CPUs is 2000 ticks; 650 busy, 200 of them ours and 50 kernel threads': others
	// took 400, a fifth.
	after := cpuSample{at: t0.Add(10 * time.Second), busy: 1650, ours: 700, kthreads: 60}
	if got := otherCPU(before, after, 2); got != 0.2 {
		t.Errorf("otherCPU = %v, want 0.2", got)
	}
	if got := otherCPU(cpuSample{}, after, 2); got != -1 {
		t.Errorf("otherCPU without a first sample = %v, want -1", got)
	}
}

// TestTreeCPU checks a busy child's CPU time counts as the benchmark's own. The child is this
// test binary running TestSpin, which spins for a second of wall-clock time.
func TestTreeCPU(t *testing.T) {
	before := treeCPU(os.Getpid())[0]
	cmd := exec.Command(os.Args[0], "-test.run=^TestSpin$")
	cmd.Env = append(os.Environ(), "BENCHRUN_SPIN=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	during := treeCPU(os.Getpid())[0]
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	after := treeCPU(os.Getpid())[0]
	// The child spins for about a second (100 ticks) when it gets a CPU to itself; on a busy
	// machine less, but some.
	if during-before < 5 || after-before < 5 {
		t.Errorf("descendants' CPU went %d -> %d -> %d ticks; the busy child was not counted", before, during, after)
	}
}

// TestSpin is TestTreeCPU's busy child: with BENCHRUN_SPIN=1 it spins for a second.
func TestSpin(t *testing.T) {
	if os.Getenv("BENCHRUN_SPIN") != "1" {
		t.Skip("the busy child of TestTreeCPU")
	}
	for end := time.Now().Add(time.Second); time.Now().Before(end); {
	}
}

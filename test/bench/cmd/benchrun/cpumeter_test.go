package main

import (
	"math"
	"os"
	"os/exec"
	"testing"
	"time"
)

func TestOtherCPU(t *testing.T) {
	t0 := time.Now()
	before := cpuSample{at: t0, busy: 1000, ours: cpuTime{400, 100}, kthreads: cpuTime{0, 10}}
	// 10s on 2 CPUs is 2000 ticks; 650 busy, 200 of them ours and 50 kernel threads': others
	// took 400, a fifth.
	after := cpuSample{at: t0.Add(10 * time.Second), busy: 1650, ours: cpuTime{550, 150}, kthreads: cpuTime{0, 60}}
	if got := otherCPU(before, after, 2); got != 0.2 {
		t.Errorf("otherCPU = %v, want 0.2", got)
	}
	if got := otherCPU(cpuSample{}, after, 2); got != -1 {
		t.Errorf("otherCPU without a first sample = %v, want -1", got)
	}
}

func TestProxyUse(t *testing.T) {
	t0 := time.Now()
	before := cpuSample{at: t0, proxy: cpuTime{user: 100, system: 50}}
	// 4s is 400 ticks of one CPU: 300 ticks of user time is 0.75 of a CPU, 100 of system 0.25.
	after := cpuSample{at: t0.Add(4 * time.Second), proxy: cpuTime{user: 400, system: 150}}
	use, ok := proxyUse(before, after)
	if !ok || use != (cpuUse{user: 0.75, system: 0.25}) {
		t.Errorf("proxyUse = %+v, %v; want {0.75 0.25}, true", use, ok)
	}
	if _, ok := proxyUse(cpuSample{}, after); ok {
		t.Error("proxyUse without a first sample is ok")
	}
}

func TestCPUPerOp(t *testing.T) {
	res := &results{}
	res.addProxyCPU("http", nginx, cpuUse{user: 0.5, system: 0.5})
	res.addProxyCPU("http", nginx, cpuUse{user: 0.2, system: 0.6})
	// One CPU busy at 20,000 requests/s is 50 µs per request, half of it in the kernel; 0.8
	// CPUs at 40,000/s is 20 µs, 15 µs in the kernel.
	near := func(got []float64, want ...float64) bool {
		if len(got) != len(want) {
			return false
		}
		for i := range got {
			if math.Abs(got[i]-want[i]) > 1e-6 {
				return false
			}
		}
		return true
	}
	if got := res.cpuPerOp("http", nginx, []float64{20000, 40000}, false); !near(got, 50000, 20000) {
		t.Errorf("cpuPerOp = %v, want [50000 20000] ns", got)
	}
	if got := res.cpuPerOp("http", nginx, []float64{20000, 40000}, true); !near(got, 25000, 15000) {
		t.Errorf("cpuPerOp in the kernel = %v, want [25000 15000] ns", got)
	}
	if got := res.cpuPerOp("http", nginx, []float64{0, 40000}, false); !near(got, 20000) {
		t.Errorf("cpuPerOp with a run of no requests = %v, want [20000] ns", got)
	}
	if got := res.cpuPerOp("http", direct, []float64{20000}, false); len(got) != 0 {
		t.Errorf("cpuPerOp without a proxy = %v, want none", got)
	}
}

// TestTreeCPU checks a busy child's CPU time counts as the benchmark's own, and as its own when
// the child is a root too (as the proxy under test is). The child is this test binary running
// TestSpin, which spins for a second of wall-clock time.
func TestTreeCPU(t *testing.T) {
	before := treeCPU(os.Getpid())[0].total()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSpin$")
	cmd.Env = append(os.Environ(), "BENCHRUN_SPIN=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	during := treeCPU(os.Getpid(), cmd.Process.Pid)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	after := treeCPU(os.Getpid())[0].total()
	// The child spins for about a second (100 ticks) when it gets a CPU to itself; on a busy
	// machine less, but some.
	ours, child := during[0].total(), during[1].total()
	if ours-before < 5 || after-before < 5 {
		t.Errorf("descendants' CPU went %d -> %d -> %d ticks; the busy child was not counted", before, ours, after)
	}
	if child < 5 || ours-before < child {
		t.Errorf("the busy child as a root has %d ticks, the tree it is in gained %d: want some, in both", child, ours-before)
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

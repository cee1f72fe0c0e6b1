package main

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc CPU times (100 on every Linux architecture Go
// supports).
const clockTicks = 100

// cpuSample is the machine's busy CPU time and the parts of it spent by benchrun and its
// descendants (the proxies, backends and load generators) and by kernel threads (softirq
// processing of the benchmark's loopback traffic among them), in clock ticks, at a moment.
type cpuSample struct {
	at                   time.Time
	busy, ours, kthreads int64
}

// sampleCPU reads /proc. Errors leave the sample zero, which otherCPU reports as unknown.
func sampleCPU() cpuSample {
	s := cpuSample{at: time.Now()}
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuSample{}
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i != 3 && i != 4 && i < 8 { // not idle, not iowait; guest time is inside user
			s.busy += n
		}
	}
	trees := treeCPU(os.Getpid(), kthreadd)
	s.ours, s.kthreads = trees[0], trees[1]
	return s
}

// kthreadd is the parent of the kernel's threads.
const kthreadd = 2

// treeCPU sums, for each root, the CPU time of the root and its live descendants, including
// what each has collected from its waited-for children (exited tools, retired nginx workers).
func treeCPU(roots ...int) []int64 {
	totals := make([]int64, len(roots))
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return totals
	}
	parent := map[int]int{}
	cpu := map[int]int64{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		// Fields after "(comm)": state ppid ... utime(14) stime(15) cutime(16) cstime(17).
		_, rest, ok := strings.Cut(string(data), ") ")
		f := strings.Fields(rest)
		if !ok || len(f) < 15 {
			continue
		}
		parent[pid], _ = strconv.Atoi(f[1])
		for _, v := range f[11:15] {
			n, _ := strconv.ParseInt(v, 10, 64)
			cpu[pid] += n
		}
	}
	for pid, t := range cpu {
		for p := pid; p > 0; p = parent[p] {
			if i := slices.Index(roots, p); i >= 0 {
				totals[i] += t
				break
			}
		}
	}
	return totals
}

// otherCPU is the share of the machine's CPUs that processes outside the benchmark (kernel
// threads aside) used between two samples: 0.25 on two CPUs is half a CPU taken from the
// measurement. It is -1 when a sample failed.
func otherCPU(before, after cpuSample, cpus int) float64 {
	if before.at.IsZero() || after.at.IsZero() {
		return -1
	}
	wall := after.at.Sub(before.at).Seconds() * clockTicks * float64(cpus)
	if wall <= 0 {
		return -1
	}
	other := float64((after.busy - before.busy) - (after.ours - before.ours) - (after.kthreads - before.kthreads))
	return max(other, 0) / wall
}

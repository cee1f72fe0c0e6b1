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

// cpuTime is CPU time in clock ticks, in user space and in the kernel.
type cpuTime struct{ user, system int64 }

func (c cpuTime) total() int64 { return c.user + c.system }

// cpuSample is the machine's busy CPU time and the parts of it spent by benchrun and its
// descendants (the proxies, backends and load generators), by kernel threads (softirq
// processing of the benchmark's loopback traffic among them) and by the proxy under test, in
// clock ticks, at a moment.
type cpuSample struct {
	at                    time.Time
	busy                  int64
	ours, kthreads, proxy cpuTime
}

// sampleCPU reads /proc; proxy is the first process of the proxy under test (nginx's master),
// or 0 for none. Errors leave the sample zero, which otherCPU and proxyUse report as unknown.
func sampleCPU(proxy int) cpuSample {
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
	trees := treeCPU(os.Getpid(), kthreadd, proxy)
	s.ours, s.kthreads, s.proxy = trees[0], trees[1], trees[2]
	return s
}

// kthreadd is the parent of the kernel's threads.
const kthreadd = 2

// treeCPU sums, for each root, the CPU time of the root and its live descendants, including
// what each has collected from its waited-for children (exited tools, retired nginx workers).
// A root inside another's tree counts in both; a root of 0 sums nothing.
func treeCPU(roots ...int) []cpuTime {
	totals := make([]cpuTime, len(roots))
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return totals
	}
	parent := map[int]int{}
	cpu := map[int]cpuTime{}
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
		var n [4]int64
		for i, v := range f[11:15] {
			n[i], _ = strconv.ParseInt(v, 10, 64)
		}
		cpu[pid] = cpuTime{user: n[0] + n[2], system: n[1] + n[3]}
	}
	for pid, t := range cpu {
		for p := pid; p > 0; p = parent[p] { // every root above pid: roots may be nested
			if i := slices.Index(roots, p); i >= 0 {
				totals[i].user += t.user
				totals[i].system += t.system
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
	other := float64((after.busy - before.busy) - (after.ours.total() - before.ours.total()) -
		(after.kthreads.total() - before.kthreads.total()))
	return max(other, 0) / wall
}

// cpuUse is how many CPUs a process tree kept busy on average over a run, in user space and
// in the kernel (1 is one CPU all the time).
type cpuUse struct{ user, system float64 }

// proxyUse is the proxy's CPU use between two samples; ok is false when a sample failed.
func proxyUse(before, after cpuSample) (use cpuUse, ok bool) {
	wall := after.at.Sub(before.at).Seconds() * clockTicks
	if before.at.IsZero() || after.at.IsZero() || wall <= 0 {
		return cpuUse{}, false
	}
	return cpuUse{
		user:   float64(after.proxy.user-before.proxy.user) / wall,
		system: float64(after.proxy.system-before.proxy.system) / wall,
	}, true
}

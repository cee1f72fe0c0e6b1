package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

// machine describes where the figures were measured.
type machine struct {
	CPU, Memory, Kernel, OS string
	CPUs, NoFile            int
	// Ports is the size of the ephemeral port range.
	Ports                        int
	Go, Nginx, HAProxy, Wrk, Rev string
}

func probeMachine(h *harness) machine {
	m := machine{CPUs: h.cpus, NoFile: h.nofile, Ports: h.ports, Go: runtime.Version()}
	m.CPU = procField("/proc/cpuinfo", "model name", ":")
	if kb, err := strconv.ParseFloat(strings.TrimSuffix(procField("/proc/meminfo", "MemTotal", ":"), " kB"), 64); err == nil {
		m.Memory = strconv.FormatFloat(kb/(1<<20), 'f', 1, 64) + " GiB"
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.OS = strings.Trim(procField("/etc/os-release", "PRETTY_NAME", "="), `"`)
	m.Nginx = firstLine("nginx", "-v")
	m.HAProxy = firstLine("haproxy", "-v")
	m.Wrk = firstLine("wrk", "-v")
	m.Rev = firstLine("git", "rev-parse", "--short", "HEAD")
	if dirty := firstLine("git", "status", "--porcelain", "--", "gateway", "cmd/gateway", "balancer", "api"); dirty != "" {
		m.Rev += " with uncommitted changes to the gateway"
	}
	if bin, err := os.ReadFile(h.bin(gw)); err == nil {
		sum := sha256.Sum256(bin)
		m.Rev += ", binary sha256 " + hex.EncodeToString(sum[:6])
	}
	return m
}

// procField is the value of the first "key<sep>value" line of a file such as /proc/cpuinfo.
func procField(path, key, sep string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		k, v, ok := strings.Cut(line, sep)
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// firstLine is the first line a command prints on stdout or stderr (nginx -v and wrk -v
// print on stderr, and wrk -v exits 1).
func firstLine(name string, args ...string) string {
	out, _ := exec.Command(name, args...).CombinedOutput()
	line, _, _ := bytes.Cut(bytes.TrimSpace(out), []byte("\n"))
	return string(line)
}

// loadAverage is the 1, 5 and 15 minute load average.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

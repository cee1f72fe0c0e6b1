package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stablering/stablering/test/bench"
)

func TestParsePortRange(t *testing.T) {
	for in, want := range map[string]int{
		"32768\t60999\n": 28232,
		"1024 65535":     64512,
		"40000 40000":    1,
		"":               28232, // Linux's default
		"60999 32768":    28232,
		"x 60999":        28232,
		"1 2 3":          28232,
	} {
		if got := parsePortRange(in); got != want {
			t.Errorf("parsePortRange(%q) = %d, want %d", in, got, want)
		}
	}
}

// TestBackendGroups checks the counts of figure 4 on this machine's limits (20,000 open
// files, 28,232 ephemeral ports): up to 50,000 connections on the four backends as before,
// 100,000 on two groups, 12,500 per backend on average either way.
func TestBackendGroups(t *testing.T) {
	if got := perBackend(20000, 28232); got != 12666 {
		t.Errorf("perBackend(20000, 28232) = %d, want 12666", got)
	}
	// Few ports bound it instead of the open-files limit.
	if got := perBackend(20000, 9000); got != 6000 {
		t.Errorf("perBackend(20000, 9000) = %d, want 6000", got)
	}
	for conns, want := range map[int]int{1000: 1, 10000: 1, 50000: 1, 50664: 1, 50665: 2, 100000: 2, 200000: 4} {
		if got := backendGroups(conns, 20000, 28232); got != want {
			t.Errorf("backendGroups(%d) = %d, want %d", conns, got, want)
		}
	}
	// A limit that leaves nothing counts one connection per backend, not a division by zero.
	if got := backendGroups(10, 1000, 28232); got != 3 {
		t.Errorf("backendGroups(10, 1000, ...) = %d, want 3", got)
	}
}

func TestGroupAddrs(t *testing.T) {
	if got := groupAddrs(0); !slices.Equal(got, backendAddrs) {
		t.Errorf("groupAddrs(0) = %v, want the backends", got)
	}
	want := []string{"127.0.77.11:18000", "127.0.77.12:18000", "127.0.77.13:18000", "127.0.77.14:18000"}
	if got := groupAddrs(1); !slices.Equal(got, want) {
		t.Errorf("groupAddrs(1) = %v, want %v", got, want)
	}
	// No group collides with the backends, their second address or another group.
	seen := map[string]bool{altBackendAddr: true}
	for g := range 20 {
		for _, a := range groupAddrs(g) {
			if seen[a] {
				t.Fatalf("group %d reuses %s", g, a)
			}
			seen[a] = true
		}
	}
}

func TestSetIdle(t *testing.T) {
	cfg := presets(false)
	if !slices.Equal(cfg.idleConns, []int{1000, 10000, 50000, 100000}) {
		t.Errorf("full run's idle counts = %v", cfg.idleConns)
	}
	if err := cfg.setIdle("", "", ""); err != nil || cfg.only != "" || cfg.idleProxies != nil || len(cfg.idleConns) != 4 {
		t.Errorf("no flags: %v, %+v", err, cfg)
	}
	if err := cfg.setIdle("idle", "100000, 5000", "gateway,nginx,gateway"); err != nil {
		t.Fatal(err)
	}
	if cfg.only != "idle" || !slices.Equal(cfg.idleConns, []int{100000, 5000}) || !slices.Equal(cfg.idleProxies, []string{gw, nginx}) {
		t.Errorf("flags: only %q, conns %v, proxies %v", cfg.only, cfg.idleConns, cfg.idleProxies)
	}
	for _, bad := range [][3]string{{"http", "", ""}, {"", "0", ""}, {"", "10k", ""}, {"", "1000,", ""}, {"", "", "direct"}, {"", "", "envoy"}} {
		c := presets(false)
		if err := c.setIdle(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("setIdle(%q, %q, %q) accepted", bad[0], bad[1], bad[2])
		}
	}
}

// TestWriteIdleOnly renders the page of an ONLY=idle run: the header and figure 4 alone, the
// proxies not measured shown without values.
func TestWriteIdleOnly(t *testing.T) {
	cfg := presets(false)
	if err := cfg.setIdle("idle", "100000", "gateway"); err != nil {
		t.Fatal(err)
	}
	cfg.reps = 1
	set := idleSet{Conns: 100000, Instances: 12, Groups: 2, Took: 312 * time.Second, ByProxy: map[string][]bench.IdleResult{
		gw: {{Conns: 99999, Failed: 1, RSSBefore: 329 << 20, RSSAfter: 658 << 20, BytesPerConn: 3445, Echoed: 99999}},
	}, Errors: map[string]string{haproxy: "starting haproxy-11: " + strings.Repeat("x", 500)}}
	res := &results{cfg: cfg, start: time.Now(), end: time.Now().Add(40 * time.Second), idle: []idleSet{set},
		machine: machine{CPUs: 2, NoFile: 20000, Ports: 28232}, perProcess: 9000, perBackend: 12666}
	res.addOther("idle-100000", gw, 0.01)
	path := filepath.Join(t.TempDir(), "benchmarks.md")
	if err := writeReport(path, res); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	md := string(data)
	for _, want := range []string{
		"**figure 4 alone (ONLY=idle): the other figures were not measured; not for comparison**",
		"## 4. Memory per idle proxied WebSocket",
		"N = 100,000, over 12 instance(s) of each proxy in front of 2 groups of backends (5m12s of this run):",
		"| target | RSS per connection | × nginx | RSS before | RSS with N open | failed to open | echoed | others' CPU |\n" +
			"|---|--:|--:|--:|--:|--:|--:|--:|\n| gateway | 3.4 KiB | – | 329 MiB | 658 MiB | 1 | 99,999 | 1% |\n\n",
		"**haproxy not measured at this count**: starting haproxy-11: xxx",
		"xxx… (its log: tools.log",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, absent := range []string{"## Summary", "## 1. ", "## 5. ", "## Where the gateway loses", "| nginx | –", "NaN", "%!"} {
		if strings.Contains(md, absent) {
			t.Errorf("report contains %q", absent)
		}
	}
}

// TestSummaryUnmeasured checks a summary row whose proxy was not measured shows no number.
func TestSummaryUnmeasured(t *testing.T) {
	r := &report{res: &results{cfg: presets(false), idle: []idleSet{{Conns: 100000, ByProxy: map[string][]bench.IdleResult{
		haproxy: {{BytesPerConn: 4096}}, gw: {{BytesPerConn: 2048}},
	}}}}}
	r.summary()
	want := "| RSS per idle WebSocket at 100,000 connections | lower | – | 4.0 KiB | – | 2.0 KiB | – | – |"
	if !strings.Contains(r.String(), want) {
		t.Errorf("summary lacks %q:\n%s", want, r.String())
	}
}

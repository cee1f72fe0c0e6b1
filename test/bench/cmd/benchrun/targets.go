package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/stablering/stablering/test/bench"
)

// Every process listens on its own loopback address, so nothing collides with other
// programs' ports on 127.0.0.1.
const (
	// altBackendAddr is a second address of the last backend: the ring-change benchmark
	// moves that member between its two addresses.
	altBackendAddr = "127.0.77.5:18000"
	backendPort    = 18000
	profAddr       = "127.0.78.4:18001"
	profAdmin      = "127.0.78.4:18002"
	// The proxies listen on port listenPort of their address and serve their admin endpoints
	// on adminPort; instance k of the idle-WebSocket figure uses instancePort+k and
	// instancePort+100+k; the proxies in front of the C backend use cListenPort and cAdminPort.
	listenPort   = 18001
	adminPort    = 18002
	cListenPort  = 18011
	cAdminPort   = 18012
	instancePort = 18100
)

// proxyHosts are the proxies' loopback addresses.
var proxyHosts = map[string]string{nginx: "127.0.78.1", haproxy: "127.0.78.2", gw: "127.0.78.3"}

// listenAddr is where the proxy called name listens for every figure but the idle one.
func listenAddr(name string) string {
	return net.JoinHostPort(proxyHosts[name], strconv.Itoa(listenPort))
}

// groupAddrs are the addresses of group g of backends in the idle-WebSocket figure: group 0
// is backendAddrs; group g > 0, started for the counts that need it, is on 127.0.77.10g+1 to
// 127.0.77.10g+4.
func groupAddrs(g int) []string {
	if g == 0 {
		return backendAddrs
	}
	addrs := make([]string, len(backendAddrs))
	for i := range addrs {
		addrs[i] = net.JoinHostPort(fmt.Sprintf("127.0.77.%d", 10*g+i+1), strconv.Itoa(backendPort))
	}
	return addrs
}

// backendAddrs are the backends, one process each; cBackendAddrs are the servers of the C
// backend (one nginx); clientSources are the addresses the WebSocket tools connect from.
var (
	backendAddrs  = []string{"127.0.77.1:18000", "127.0.77.2:18000", "127.0.77.3:18000", "127.0.77.4:18000"}
	cBackendAddrs = []string{"127.0.76.1:18000", "127.0.76.2:18000", "127.0.76.3:18000", "127.0.76.4:18000"}
	clientSources = "127.0.79.1,127.0.79.2,127.0.79.3,127.0.79.4,127.0.79.5,127.0.79.6,127.0.79.7,127.0.79.8"
)

// Names of the targets.
const (
	direct  = "direct"
	nginx   = "nginx"
	haproxy = "haproxy"
	gw      = "gateway"
)

// namedBackends are the ring members at addrs, in ordinal order, named b0, b1, ...
func namedBackends(addrs []string) []bench.Backend {
	out := make([]bench.Backend, len(addrs))
	for i, a := range addrs {
		out[i] = bench.Backend{Name: fmt.Sprintf("b%d", i), Address: a}
	}
	return out
}

// ringVariant is one of the two rings the ring-change benchmark alternates between: they
// differ in the last member's address (the same backend, reached on a second address).
// Variant 0 of any backends is those backends; only the Go backends have variant 1.
type ringVariant int

func (v ringVariant) backends(addrs []string) []bench.Backend {
	out := namedBackends(addrs)
	if v == 1 {
		out[len(out)-1].Address = altBackendAddr
	}
	return out
}

func (v ringVariant) version() string { return fmt.Sprintf("bench-%c", 'a'+rune(v)) }

// proxy is one proxy under test.
type proxy struct {
	name     string
	listen   string
	admin    string   // the gateway's admin endpoints, HAProxy's runtime API; unused by nginx
	backends []string // the ring members' addresses
	// pprof starts the gateway with --pprof (its profiles on the admin endpoints).
	pprof bool
	h     *harness
	dir   string // its configuration, logs and temporary files
	proc  *proc
}

// config renders the proxy's configuration for ring variant v into its directory.
func (p *proxy) config(v ringVariant) error {
	cfg := bench.ProxyConfig{
		Listen: p.listen, Backends: v.backends(p.backends), Port: backendPort, Workers: p.h.cpus,
		NoFile: p.h.nofile, Dir: p.dir, StatsAddr: p.admin, RingVersion: v.version(),
	}
	var tmpl, file string
	switch p.name {
	case nginx:
		tmpl, file, cfg.MaxConns = bench.NginxTemplate, "nginx.conf", p.h.nofile-100
	case haproxy:
		tmpl, file, cfg.MaxConns = bench.HAProxyTemplate, "haproxy.cfg", (p.h.nofile-200)/2
	default:
		tmpl, file = bench.RingsTemplate, "rings.yaml"
	}
	data, err := bench.Render(tmpl, cfg)
	if err != nil {
		return err
	}
	// Write and rename, so the gateway's file watcher never reads half a file.
	path := filepath.Join(p.dir, file)
	if err := os.WriteFile(path+".tmp", data, 0o644); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

func (p *proxy) nginxArgs(extra ...string) []string {
	return append([]string{"-p", p.dir, "-c", filepath.Join(p.dir, "nginx.conf"), "-e", filepath.Join(p.dir, "error.log")}, extra...)
}

// start renders ring variant 0 and starts the proxy, waiting until it routes.
func (p *proxy) start() error {
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return err
	}
	if err := p.config(0); err != nil {
		return err
	}
	var err error
	switch p.name {
	case nginx:
		p.proc, err = startProc(p.h.logs, filepath.Base(p.dir), "nginx", p.nginxArgs()...)
	case haproxy:
		p.proc, err = startProc(p.h.logs, filepath.Base(p.dir), "haproxy", "-f", filepath.Join(p.dir, "haproxy.cfg"), "-db")
	default:
		args := []string{"--rings-file", filepath.Join(p.dir, "rings.yaml"), "--listen", p.listen, "--admin", p.admin,
			"--shutdown-delay", "0s", "--shutdown-window", "1s"}
		if p.pprof {
			args = append(args, "--pprof")
		}
		p.proc, err = startProc(p.h.logs, filepath.Base(p.dir), p.h.bin(gw), args...)
	}
	if err != nil {
		return err
	}
	if err := p.proc.waitTCP(p.listen); err != nil {
		return err
	}
	if p.name == gw {
		return waitReady("http://"+p.admin+"/readyz", p.proc)
	}
	return nil
}

// instances starts count fresh instances of the proxy called name, each as it is configured
// for the other figures but on its own ports and in its own directory; instance k is in front
// of the backends groups[k mod len(groups)].
func (h *harness) instances(name string, count int, groups [][]string) ([]*proxy, error) {
	var ps []*proxy
	for k := range count {
		p := h.newProxy(name, groups[k%len(groups)], instancePort+k, instancePort+100+k, fmt.Sprintf("%s-%d", name, k))
		if err := p.start(); err != nil {
			stopAll(ps)
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// newProxy is the proxy called name in front of backends, on the given ports of its address,
// with its files in the work directory's subdirectory dir.
func (h *harness) newProxy(name string, backends []string, listen, admin int, dir string) *proxy {
	host := proxyHosts[name]
	return &proxy{name: name, h: h, dir: filepath.Join(h.cfg.work, dir), backends: backends,
		listen: net.JoinHostPort(host, strconv.Itoa(listen)), admin: net.JoinHostPort(host, strconv.Itoa(admin))}
}

// stopAll stops the proxies of ps that were started.
func stopAll(ps []*proxy) {
	for _, p := range ps {
		if p.proc != nil {
			p.proc.stop()
		}
	}
}

// pids are the proxy's processes: nginx's master and workers, or the one process.
func (p *proxy) pids() ([]int, error) {
	pids := []int{p.proc.pid()}
	if p.name != nginx {
		return pids, nil
	}
	workers, err := p.proc.children()
	if err != nil {
		return nil, err
	}
	if len(workers) == 0 {
		return nil, fmt.Errorf("nginx (pid %d) has no workers", p.proc.pid())
	}
	return append(pids, workers...), nil
}

// changeRing switches the proxy to ring variant v the way it is done in production and
// reports whether the change was applied: nginx reloads its configuration (open-source nginx
// cannot change upstream servers otherwise), HAProxy changes the server's address through
// its runtime API, and the gateway gets a new rings file with a new ringVersion.
func (p *proxy) changeRing(ctx context.Context, v ringVariant) (bool, error) {
	switch p.name {
	case nginx:
		if err := p.config(v); err != nil {
			return false, err
		}
		_, err := runTool(ctx, filepath.Join(p.h.logs, "nginx-reload.log"), "nginx", p.nginxArgs("-s", "reload")...)
		return err == nil, nil
	case haproxy:
		last := v.backends(p.backends)[len(p.backends)-1]
		host, port, _ := net.SplitHostPort(last.Address)
		answer, err := haproxyCommand(p.admin, fmt.Sprintf("set server stablering/%s addr %s port %s", last.Name, host, port))
		return err == nil && strings.Contains(answer, "changed"), nil
	default:
		if err := p.config(v); err != nil {
			return false, err
		}
		return waitVersion(p.admin, v.version()), nil
	}
}

// haproxyCommand sends one command to HAProxy's runtime API at addr and returns the answer.
func haproxyCommand(addr, cmd string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, cmd+"\n"); err != nil {
		return "", err
	}
	answer, err := io.ReadAll(bufio.NewReader(c))
	return string(answer), err
}

// waitVersion waits up to a second for the gateway whose admin endpoints are at admin to route
// by ring version. It does not stop early when the run ends, so the last change of a run is
// counted like the others.
func waitVersion(admin, version string) bool {
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		var rings struct {
			Rings []struct {
				Version string `json:"version"`
			} `json:"rings"`
		}
		if err := getJSON("http://"+admin+"/debug/rings", &rings); err == nil &&
			len(rings.Rings) == 1 && rings.Rings[0].Version == version {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// adminClient talks to the gateway's admin and pprof endpoints.
var adminClient = &http.Client{Timeout: 30 * time.Second}

func getJSON(url string, v any) error {
	resp, err := adminClient.Get(url)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// waitReady polls url until it answers 200.
func waitReady(url string, p *proc) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := adminClient.Get(url)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready: %s", url, p.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

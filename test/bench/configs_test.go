package bench

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/gateway/source"
)

func testConfig(t *testing.T) ProxyConfig {
	return ProxyConfig{
		Listen: "127.0.78.9:18001", Port: 18000, Workers: 2, MaxConns: 1000, NoFile: 4096,
		Dir: t.TempDir(), StatsAddr: "127.0.78.9:18003", RingVersion: "v1",
		Backends: []Backend{{Name: "b0", Address: "127.0.77.1:18000"}, {Name: "b1", Address: "127.0.77.2:18000"}},
	}
}

// TestRingsTemplate checks the rendered rings file is what the gateway reads: one ring, all
// members Serving at the backends' addresses, keyed by the room query parameter.
func TestRingsTemplate(t *testing.T) {
	cfg := testConfig(t)
	data, err := Render(RingsTemplate, cfg)
	if err != nil {
		t.Fatal(err)
	}
	rings, err := source.Parse(data)
	if err != nil {
		t.Fatalf("the gateway does not parse the rings file: %v\n%s", err, data)
	}
	if len(rings) != 1 {
		t.Fatalf("%d rings", len(rings))
	}
	sr := rings[0]
	if sr.Status.RingVersion != "v1" || sr.Spec.Key.Source != v1alpha1.KeySourceQuery || sr.Spec.Key.Name != "room" {
		t.Errorf("ring: %+v", sr.StableRing)
	}
	if len(sr.Members) != len(cfg.Backends) {
		t.Fatalf("%d members", len(sr.Members))
	}
	for i, m := range sr.Members {
		if m.Ordinal != int32(i) || m.Address != cfg.Backends[i].Address || m.State != v1alpha1.MemberServing {
			t.Errorf("member %d: %+v", i, m)
		}
	}
}

// TestProxyTemplates renders the nginx and HAProxy configurations and, where the proxies are
// installed, has them check the result.
func TestProxyTemplates(t *testing.T) {
	cfg := testConfig(t)
	for _, tc := range []struct {
		template, file, bin string
		args                []string
		want                []string
	}{
		{NginxTemplate, "nginx.conf", "nginx", []string{"-t", "-p", cfg.Dir, "-e", filepath.Join(cfg.Dir, "error.log"), "-c"},
			[]string{"hash $arg_room consistent;", "server 127.0.77.2:18000;", "listen 127.0.78.9:18001"}},
		{HAProxyTemplate, "haproxy.cfg", "haproxy", []string{"-c", "-f"},
			[]string{"balance url_param room", "hash-type consistent", "server b1 127.0.77.2:18000"}},
		{BackendTemplate, "nginx-backend.conf", "nginx", []string{"-t", "-p", cfg.Dir, "-e", filepath.Join(cfg.Dir, "error.log"), "-c"},
			[]string{"listen 127.0.77.2:18000 reuseport", "add_header X-Backend b1 always;", `return 200 "hello, from b1!\n";`}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data, err := Render(tc.template, cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(data), w) {
					t.Errorf("no %q in\n%s", w, data)
				}
			}
			path := filepath.Join(cfg.Dir, tc.file)
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := exec.LookPath(tc.bin); err != nil {
				t.Skipf("%s is not installed", tc.bin)
			}
			if out, err := exec.Command(tc.bin, append(tc.args, path)...).CombinedOutput(); err != nil {
				t.Errorf("%s rejects the configuration: %v\n%s\n%s", tc.bin, err, out, data)
			}
		})
	}
}

// TestBackendTemplateServes runs nginx with the rendered C-backend configuration and checks
// every server answers 200 with a 16-byte body and its name in X-Backend, on one keep-alive
// connection per server.
func TestBackendTemplateServes(t *testing.T) {
	if _, err := exec.LookPath("nginx"); err != nil {
		t.Skip("nginx is not installed")
	}
	cfg := testConfig(t)
	cfg.Backends = []Backend{{Name: "b0", Address: freeAddr(t, "127.0.76.201")}, {Name: "b1", Address: freeAddr(t, "127.0.76.202")}}
	data, err := Render(BackendTemplate, cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(cfg.Dir, "nginx-backend.conf")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nginx", "-p", cfg.Dir, "-e", filepath.Join(cfg.Dir, "error.log"), "-c", path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // nginx's fast shutdown: the master stops its workers
		_ = cmd.Wait()
	})
	for _, b := range cfg.Backends {
		waitListening(t, b.Address)
		// The master listens before its workers run, and on a busy machine they may start
		// seconds later: the first answer waits for them.
		client := &http.Client{Timeout: 20 * time.Second}
		for i := range 2 {
			resp, err := client.Get("http://" + b.Address + "/?room=" + strconv.Itoa(i))
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Backend") != b.Name || len(body) != 16 || resp.Close {
				t.Errorf("%s: %s, X-Backend %q, %d-byte body %q, close %v", b.Address, resp.Status,
					resp.Header.Get("X-Backend"), len(body), body, resp.Close)
			}
		}
	}
}

// freeAddr is a port on host that nothing listens on at the moment.
func freeAddr(t *testing.T, host string) string {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String()
}

// waitListening waits until addr accepts connections.
func waitListening(t *testing.T, addr string) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestWrkScript(t *testing.T) {
	if !strings.Contains(string(WrkScript()), "/?room=") {
		t.Error("the wrk script does not ask for rooms")
	}
}

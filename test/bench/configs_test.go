package bench

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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
		t.Errorf("ring: %+v", sr)
	}
	if len(sr.Status.Members) != len(cfg.Backends) {
		t.Fatalf("%d members", len(sr.Status.Members))
	}
	for i, m := range sr.Status.Members {
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
	} {
		t.Run(tc.bin, func(t *testing.T) {
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

func TestWrkScript(t *testing.T) {
	if !strings.Contains(string(WrkScript()), "/?room=") {
		t.Error("the wrk script does not ask for rooms")
	}
}

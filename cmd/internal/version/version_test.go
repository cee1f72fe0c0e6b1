package version

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	old := Version
	defer func() { Version = old }()
	Version = "v1.2.3"
	s := String("gateway")
	if !strings.HasPrefix(s, "gateway v1.2.3 (") || !strings.Contains(s, runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH) {
		t.Fatalf("String = %q", s)
	}
}

// TestUnstamped: without the linker's stamp, the version is the module's from the build
// information, and "dev" for a build in a checkout.
func TestUnstamped(t *testing.T) {
	if Version != unstamped {
		t.Skipf("the test binary is stamped %q", Version)
	}
	if got := Current(); got != unstamped {
		t.Errorf("Current() in a test binary of a checkout = %q, want %q", got, unstamped)
	}
	for _, tc := range []struct{ main, want string }{
		{"v0.3.1", "v0.3.1"},
		{"v0.4.0-rc.1", "v0.4.0-rc.1"},
		{"(devel)", "dev"},
		{"", "dev"},
	} {
		info := &debug.BuildInfo{Main: debug.Module{Path: "github.com/stablering/stablering", Version: tc.main}}
		if got := moduleVersion(info); got != tc.want {
			t.Errorf("moduleVersion(main %q) = %q, want %q", tc.main, got, tc.want)
		}
	}
}

// TestVersionFlags builds the three binaries stamped as make build stamps them and checks that
// --version (the CLI's version command) prints the stamp.
func TestVersionFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binaries")
	}
	dir := t.TempDir()
	for _, tc := range []struct{ pkg, name string }{
		{"../../manager", "manager"},
		{"../../gateway", "gateway"},
		{"../../stablering", "stablering"},
	} {
		exe := filepath.Join(dir, tc.name)
		build := exec.Command("go", "build", "-o", exe, "-ldflags", "-X github.com/stablering/stablering/cmd/internal/version.Version=v9.8.7", tc.pkg)
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			t.Fatalf("building %s: %v", tc.name, err)
		}
		out, err := exec.Command(exe, "--version").Output()
		if err != nil {
			t.Fatalf("%s --version: %v", tc.name, err)
		}
		if !strings.HasPrefix(string(out), tc.name+" v9.8.7 (") {
			t.Errorf("%s --version printed %q, want %q first", tc.name, out, tc.name+" v9.8.7 (")
		}
	}
}

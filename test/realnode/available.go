package realnode

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/stablering/stablering/test/internal/cachedir"
)

// cniBinDir is where Debian's containernetworking-plugins package puts the CNI plugins.
const cniBinDir = "/usr/lib/cni"

// RequireEnv set to 1 makes Skip fail instead of skipping when the node cannot run here (as
// `make test` does).
const RequireEnv = "STABLERING_REQUIRE_REALNODE"

// packages are the Debian packages the node needs, by a file each installs.
var packages = map[string]string{
	"containerd":                  "/usr/bin/containerd",
	"runc":                        "/usr/sbin/runc",
	"containernetworking-plugins": filepath.Join(cniBinDir, "bridge"),
	"nftables":                    "/usr/sbin/nft",
	"iptables":                    "/usr/sbin/iptables",
	"iproute2":                    "/usr/sbin/ip",
}

// nodeBinaries are the Kubernetes binaries the node needs in its BinDir.
var nodeBinaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl"}

// Available returns nil if the node can run here, or an error saying what is missing: Linux,
// root, the Debian packages (hack/realnode-packages.sh installs them) and the Kubernetes
// binaries in binDir (hack/controlplane-binaries.sh builds them).
func Available(binDir string) error {
	if os.Geteuid() != 0 {
		return errors.New("the real node needs root (network namespaces, cgroups, mounts)")
	}
	var missing []string
	for pkg, file := range packages {
		if _, err := os.Stat(file); err != nil {
			missing = append(missing, pkg)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the real node needs the packages %s (hack/realnode-packages.sh installs them)", strings.Join(missing, ", "))
	}
	for _, b := range nodeBinaries {
		if _, err := exec.LookPath(filepath.Join(binDir, b)); err != nil {
			return fmt.Errorf("the real node needs %s in %q (hack/controlplane-binaries.sh builds it): %w", b, binDir, err)
		}
	}
	return nil
}

// lockMachine takes the machine-wide lock of real-node runs, waiting while another run holds
// it, until ctx ends.
func lockMachine(ctx context.Context) (*os.File, error) {
	dir := cachedir.Dir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "realnode.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for another real-node run to end: %w", ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

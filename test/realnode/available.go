package realnode

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/stablering/stablering/test/controlplane"
	"github.com/stablering/stablering/test/registry"
)

// cniBinDir is where Debian's containernetworking-plugins package puts the CNI plugins.
const cniBinDir = "/usr/lib/cni"

// RequireEnv set to 1 makes the tests that need a real node fail where it cannot run, instead
// of skipping, and the e2e harness insist on it instead of falling back to the simulated node
// (`make test` sets it).
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
	for _, pkg := range slices.Sorted(maps.Keys(packages)) {
		if _, err := os.Stat(packages[pkg]); err != nil {
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

// Binaries returns the directory of the Kubernetes binaries (binDir, or "" for the cache of
// hack/controlplane-binaries.sh, see controlplane.BinDir) and the registry server's binary, once
// Available has found that the node can run here; the error says what is missing.
func Binaries(binDir string) (dir, registryBinary string, err error) {
	if binDir == "" {
		if binDir, err = controlplane.BinDir(); err != nil {
			return "", "", err
		}
	}
	if err := Available(binDir); err != nil {
		return "", "", err
	}
	if registryBinary, err = registry.Binary(); err != nil {
		return "", "", err
	}
	return binDir, registryBinary, nil
}

// SkipReason returns why a test that needs the real node should be skipped here: what Binaries
// finds missing, unless RequireEnv is 1. It returns "" when the test should run (and fail on
// whatever is missing).
func SkipReason() string {
	if _, _, err := Binaries(""); err != nil && os.Getenv(RequireEnv) != "1" {
		return fmt.Sprintf("%v (set %s=1 to fail instead of skipping)", err, RequireEnv)
	}
	return ""
}

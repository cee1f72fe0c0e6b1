package controlplane

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/stablering/stablering/test/internal/cachedir"
)

// KubernetesVersion is the version of the control plane binaries that hack/controlplane-binaries.sh
// builds by default. Keep it in sync with K8S_VERSION in the Makefile.
const KubernetesVersion = "1.36.3"

// RequireEnv names the environment variable that, set to "1", turns missing control plane
// binaries from a skipped suite into a failure (`make test` sets it).
const RequireEnv = "STABLERING_REQUIRE_CONTROLPLANE"

// binaries are the executables a control plane needs in its binary directory.
var binaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kubectl"}

// ErrBinariesMissing is wrapped by the errors of BinDir and Start when a binary is missing.
var ErrBinariesMissing = errors.New("control plane binaries missing")

// BinDir returns the directory holding the control plane binaries: $KUBEBUILDER_ASSETS when set,
// else the cache directory of hack/controlplane-binaries.sh. It fails with ErrBinariesMissing,
// telling the user to run `make envtest`, when etcd, kube-apiserver, kube-controller-manager or
// kubectl is not there.
func BinDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		dir = defaultBinDir()
	}
	return dir, checkBinaries(dir)
}

// SkipReason returns why a test suite needing a control plane should be skipped: its binaries
// are missing and RequireEnv is not "1". It returns "" when the suite should run (and fail if the
// binaries are missing).
func SkipReason() string {
	if _, err := BinDir(); err != nil && os.Getenv(RequireEnv) != "1" {
		return fmt.Sprintf("%v (set %s=1 to fail instead of skipping)", err, RequireEnv)
	}
	return ""
}

// checkBinaries fails with ErrBinariesMissing if dir lacks an executable from binaries.
func checkBinaries(dir string) error {
	for _, name := range binaries {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil || info.IsDir() || info.Mode().Perm()&0o111 == 0 {
			return fmt.Errorf("%w: no executable %s in %s; run `make envtest` to build them", ErrBinariesMissing, name, dir)
		}
	}
	return nil
}

// defaultBinDir is where hack/controlplane-binaries.sh puts the control plane: the cache's
// controlplane/v<version>.
func defaultBinDir() string {
	return filepath.Join(cachedir.Dir(), "controlplane", "v"+KubernetesVersion)
}

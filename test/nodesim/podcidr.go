package nodesim

import (
	"fmt"
	"os"
	"path/filepath"
)

// maxAutoPodCIDRs is how many loopback /16s, 127.1.0.0/16 to 127.<max>.0.0/16, claimPodCIDR
// tries.
const maxAutoPodCIDRs = 200

// claimPodCIDR returns the first of 127.1.0.0/16, 127.2.0.0/16, ... that no other simulator of
// this machine holds, and the lock file that holds it until it is closed (or the process exits).
// Simulators of separate processes, e.g. the test binaries `go test ./...` runs in parallel and
// `make localcluster`, so never hand out the same pod IP.
func claimPodCIDR() (string, *os.File, error) {
	for n := 1; n <= maxAutoPodCIDRs; n++ {
		cidr := fmt.Sprintf("127.%d.0.0/16", n)
		lock, err := tryLock(filepath.Join(os.TempDir(), fmt.Sprintf("nodesim-podcidr-127.%d.lock", n)))
		if err != nil {
			return "", nil, err
		}
		if lock != nil {
			return cidr, lock, nil
		}
	}
	return "", nil, fmt.Errorf("every pod CIDR from 127.1.0.0/16 to 127.%d.0.0/16 is held by another simulator", maxAutoPodCIDRs)
}

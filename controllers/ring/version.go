package ring

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/ringhash"
)

// Version fingerprints everything a gateway routes by: the balancer configuration of the ring
// (ringhash.Config: the hash algorithm and its parameters, and the first ordinal), and every
// joined member's ordinal, state and address. Pending members, revisions, pod names and times do
// not count, so the version changes exactly when routing could change. It is the hex of the
// first 8 bytes of a SHA-256.
func Version(s *v1alpha1.StableRingStatus, members []v1alpha1.Member) string {
	h := sha256.New()
	cfg := ringhash.Config(s.Hash, s.OrdinalsStart, nil)
	fmt.Fprintf(h, "stablering ring v1\nhash %s %d\nstart %d\n", cfg.Algorithm, cfg.VirtualNodes, cfg.Start)
	members = slices.Clone(members)
	slices.SortFunc(members, func(a, b v1alpha1.Member) int { return int(a.Ordinal - b.Ordinal) })
	for _, m := range members {
		if m.State.Joined() {
			fmt.Fprintf(h, "member %d %s %s\n", m.Ordinal, m.State, m.Address)
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

package ring

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/stablering/stablering/api/v1alpha1"
)

// DefaultKetamaVirtualNodes is the number of points per member of a Ketama ring when
// spec.hash.virtualNodes is not set, as in nginx.
const DefaultKetamaVirtualNodes = 160

// Version fingerprints everything a gateway routes by: the hash algorithm and its
// parameters, the first ordinal, and every joined member's ordinal, state and address. Pending
// members, revisions, pod names and times do not count, so the version changes exactly when
// routing could change. It is the hex of the first 8 bytes of a SHA-256.
func Version(s *v1alpha1.StableRingStatus) string {
	h := sha256.New()
	hash := normalizeHash(s.Hash)
	fmt.Fprintf(h, "stablering ring v1\nhash %s %d\nstart %d\n", hash.Algorithm, virtualNodes(hash), s.OrdinalsStart)
	members := slices.Clone(s.Members)
	slices.SortFunc(members, func(a, b v1alpha1.Member) int { return int(a.Ordinal - b.Ordinal) })
	for _, m := range members {
		if m.State != v1alpha1.MemberPending {
			fmt.Fprintf(h, "member %d %s %s\n", m.Ordinal, m.State, m.Address)
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// normalizeHash fills the defaults of a hash spec: algorithm Jump, and for Ketama
// DefaultKetamaVirtualNodes. virtualNodes is dropped for the other algorithms.
func normalizeHash(in *v1alpha1.HashSpec) *v1alpha1.HashSpec {
	out := &v1alpha1.HashSpec{Algorithm: v1alpha1.AlgorithmJump}
	if in == nil {
		return out
	}
	if in.Algorithm != "" {
		out.Algorithm = in.Algorithm
	}
	if out.Algorithm == v1alpha1.AlgorithmKetama {
		n := int32(DefaultKetamaVirtualNodes)
		if in.VirtualNodes != nil {
			n = *in.VirtualNodes
		}
		out.VirtualNodes = &n
	}
	return out
}

func virtualNodes(h *v1alpha1.HashSpec) int32 {
	if h.VirtualNodes == nil {
		return 0
	}
	return *h.VirtualNodes
}

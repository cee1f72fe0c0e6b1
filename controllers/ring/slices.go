package ring

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/stablering/stablering/api/v1alpha1"
)

// memberSlices splits members, in ordinal order, into the ring's MemberSlices: slice n holds
// members 100n to 100n+99 (v1alpha1.MembersPerSlice), so a change to a few members rewrites
// only the slices that hold them. Each slice is owned by the ring, and so deleted with it.
func memberSlices(ring *v1alpha1.StableRing, members []v1alpha1.Member) []v1alpha1.MemberSlice {
	var out []v1alpha1.MemberSlice
	// Not metav1.NewControllerRef: it sets blockOwnerDeletion, which needs permission to update
	// the StableRing's finalizers where the OwnerReferencesPermissionEnforcement admission plugin
	// runs, and nothing waits for the slices when a ring is deleted in the foreground.
	owner := metav1.OwnerReference{
		APIVersion: v1alpha1.GroupVersion.String(), Kind: "StableRing",
		Name: ring.Name, UID: ring.UID, Controller: ptr.To(true),
	}
	for n := 0; n*v1alpha1.MembersPerSlice < len(members); n++ {
		part := members[n*v1alpha1.MembersPerSlice : min((n+1)*v1alpha1.MembersPerSlice, len(members))]
		out = append(out, v1alpha1.MemberSlice{
			ObjectMeta: metav1.ObjectMeta{
				Name: v1alpha1.MemberSliceName(ring.Name, n), Namespace: ring.Namespace,
				OwnerReferences: []metav1.OwnerReference{owner},
			},
			Ring:    ring.Name,
			Version: sliceVersion(part),
			Members: part,
		})
	}
	return out
}

// sliceVersion fingerprints every field of members, in their order: the hex of the first 8 bytes
// of a SHA-256.
func sliceVersion(members []v1alpha1.Member) string {
	h := sha256.New()
	fmt.Fprintf(h, "stablering members v1\n")
	for _, m := range members {
		var since string
		if m.LastTransitionTime != nil {
			since = m.LastTransitionTime.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(h, "member %d %s %s %s\n", m.Ordinal, m.State, m.Address, since)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

package ring

import (
	"testing"
	"time"

	"k8s.io/utils/ptr"

	"github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/balancer"
)

// versioned is what Version fingerprints: a status and the ring's members.
type versioned struct {
	status  v1alpha1.StableRingStatus
	members []v1alpha1.Member
}

func (v *versioned) version() string { return Version(&v.status, v.members) }

func versionedRing() *versioned {
	return &versioned{
		status: v1alpha1.StableRingStatus{Hash: &v1alpha1.HashSpec{Algorithm: v1alpha1.AlgorithmJump}},
		members: []v1alpha1.Member{
			{Ordinal: 0, Address: "10.0.0.1:8080", State: v1alpha1.MemberServing, LastTransitionTime: mtime(t0)},
			{Ordinal: 1, Address: "10.0.0.2:8080", State: v1alpha1.MemberDraining},
			{Ordinal: 2, Address: "10.0.0.3:8080", State: v1alpha1.MemberPending},
		},
	}
}

func TestVersion(t *testing.T) {
	base := versionedRing().version()
	if len(base) != 16 {
		t.Errorf("RingVersion = %q, want 16 hex digits", base)
	}
	if again := versionedRing().version(); again != base {
		t.Errorf("RingVersion is not stable: %s then %s", base, again)
	}
	for _, tc := range []struct {
		name    string
		change  func(*versioned)
		changes bool
	}{
		{"a pod IP", func(v *versioned) { v.members[0].Address = "10.0.0.9:8080" }, true},
		{"a member state", func(v *versioned) { v.members[1].State = v1alpha1.MemberRestarting }, true},
		{"a member joining", func(v *versioned) { v.members[2].State = v1alpha1.MemberServing }, true},
		{"a member leaving", func(v *versioned) { v.members = v.members[1:] }, true},
		{"the algorithm", func(v *versioned) { v.status.Hash.Algorithm = v1alpha1.AlgorithmMaglev }, true},
		{"Ketama's virtual nodes", func(v *versioned) {
			v.status.Hash = &v1alpha1.HashSpec{Algorithm: v1alpha1.AlgorithmKetama, VirtualNodes: ptr.To[int32](100)}
		}, true},
		{"the first ordinal", func(v *versioned) { v.status.OrdinalsStart = 1 }, true},
		{"a transition time", func(v *versioned) { v.members[0].LastTransitionTime = mtime(t0.Add(time.Hour)) }, false},
		{"a Pending member's address", func(v *versioned) { v.members[2].Address = "" }, false},
		{"the member order", func(v *versioned) { v.members[0], v.members[1] = v.members[1], v.members[0] }, false},
		{"counters and the rollout", func(v *versioned) {
			v.status.ReadyMembers, v.status.UpdatedMembers, v.status.Replicas, v.status.ObservedGeneration = 1, 2, 3, 4
			v.status.Rollout = &v1alpha1.RolloutStatus{Phase: v1alpha1.RolloutProgressing}
		}, false},
		{"an explicit default algorithm", func(v *versioned) { v.status.Hash = nil }, false},
		{"virtual nodes of a non-Ketama algorithm", func(v *versioned) { v.status.Hash.VirtualNodes = ptr.To[int32](7) }, false},
	} {
		v := versionedRing()
		tc.change(v)
		if got := v.version(); (got != base) != tc.changes {
			t.Errorf("changing %s: version %s -> %s, want changed=%v", tc.name, base, got, tc.changes)
		}
	}
	ketama := func(n *int32) string {
		v := versionedRing()
		v.status.Hash = &v1alpha1.HashSpec{Algorithm: v1alpha1.AlgorithmKetama, VirtualNodes: n}
		return v.version()
	}
	if ketama(nil) != ketama(ptr.To[int32](balancer.DefaultVirtualNodes)) {
		t.Errorf("Ketama's default virtual nodes are not %d", balancer.DefaultVirtualNodes)
	}
}

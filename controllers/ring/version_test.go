package ring

import (
	"testing"
	"time"

	"k8s.io/utils/ptr"

	"github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/balancer"
)

func versionedStatus() *v1alpha1.StableRingStatus {
	return &v1alpha1.StableRingStatus{
		Hash: &v1alpha1.HashSpec{Algorithm: v1alpha1.AlgorithmJump},
		Members: []v1alpha1.Member{
			{Ordinal: 0, Address: "10.0.0.1:8080", State: v1alpha1.MemberServing, LastTransitionTime: mtime(t0)},
			{Ordinal: 1, Address: "10.0.0.2:8080", State: v1alpha1.MemberDraining},
			{Ordinal: 2, Address: "10.0.0.3:8080", State: v1alpha1.MemberPending},
		},
	}
}

func TestVersion(t *testing.T) {
	base := Version(versionedStatus())
	if len(base) != 16 {
		t.Errorf("RingVersion = %q, want 16 hex digits", base)
	}
	if again := Version(versionedStatus()); again != base {
		t.Errorf("RingVersion is not stable: %s then %s", base, again)
	}
	for _, tc := range []struct {
		name    string
		change  func(*v1alpha1.StableRingStatus)
		changes bool
	}{
		{"a pod IP", func(s *v1alpha1.StableRingStatus) { s.Members[0].Address = "10.0.0.9:8080" }, true},
		{"a member state", func(s *v1alpha1.StableRingStatus) { s.Members[1].State = v1alpha1.MemberRestarting }, true},
		{"a member joining", func(s *v1alpha1.StableRingStatus) { s.Members[2].State = v1alpha1.MemberServing }, true},
		{"a member leaving", func(s *v1alpha1.StableRingStatus) { s.Members = s.Members[1:] }, true},
		{"the algorithm", func(s *v1alpha1.StableRingStatus) { s.Hash.Algorithm = v1alpha1.AlgorithmMaglev }, true},
		{"Ketama's virtual nodes", func(s *v1alpha1.StableRingStatus) {
			s.Hash = &v1alpha1.HashSpec{Algorithm: v1alpha1.AlgorithmKetama, VirtualNodes: ptr.To[int32](100)}
		}, true},
		{"the first ordinal", func(s *v1alpha1.StableRingStatus) { s.OrdinalsStart = 1 }, true},
		{"a transition time", func(s *v1alpha1.StableRingStatus) { s.Members[0].LastTransitionTime = mtime(t0.Add(time.Hour)) }, false},
		{"a Pending member's address", func(s *v1alpha1.StableRingStatus) { s.Members[2].Address = "" }, false},
		{"the member order", func(s *v1alpha1.StableRingStatus) { s.Members[0], s.Members[1] = s.Members[1], s.Members[0] }, false},
		{"counters and the rollout", func(s *v1alpha1.StableRingStatus) {
			s.ReadyMembers, s.UpdatedMembers, s.Replicas, s.ObservedGeneration = 1, 2, 3, 4
			s.Rollout = &v1alpha1.RolloutStatus{Phase: v1alpha1.RolloutProgressing}
		}, false},
		{"an explicit default algorithm", func(s *v1alpha1.StableRingStatus) { s.Hash = nil }, false},
		{"virtual nodes of a non-Ketama algorithm", func(s *v1alpha1.StableRingStatus) { s.Hash.VirtualNodes = ptr.To[int32](7) }, false},
	} {
		s := versionedStatus()
		tc.change(s)
		if got := Version(s); (got != base) != tc.changes {
			t.Errorf("changing %s: version %s -> %s, want changed=%v", tc.name, base, got, tc.changes)
		}
	}
	ketama := func(n *int32) string {
		s := versionedStatus()
		s.Hash = &v1alpha1.HashSpec{Algorithm: v1alpha1.AlgorithmKetama, VirtualNodes: n}
		return Version(s)
	}
	if ketama(nil) != ketama(ptr.To[int32](balancer.DefaultVirtualNodes)) {
		t.Errorf("Ketama's default virtual nodes are not %d", balancer.DefaultVirtualNodes)
	}
}

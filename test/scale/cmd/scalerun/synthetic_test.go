package main

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/controllers/ring"
)

func TestSyntheticRing(t *testing.T) {
	sr := stableRing("ns", 0)
	sr.Generation = 1 // as created
	s := newSyntheticRing(sr, 3, &podIPs{})
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	res, err := s.resolve(now)
	if err != nil {
		t.Fatal(err)
	}
	first, firstMembers := res.Status, res.Members
	want := []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"}
	for i, m := range firstMembers {
		if m.State != v1alpha1.MemberServing || m.Address != want[i] || m.Ordinal != int32(i) {
			t.Errorf("member %d is %s at %q, want member %d Serving at %s", m.Ordinal, m.State, m.Address, i, want[i])
		}
	}
	if len(firstMembers) != 3 || first.ReadyMembers != 3 || first.UpdatedMembers != 3 {
		t.Errorf("%d members, %d ready, %d updated; want 3 of each", len(firstMembers), first.ReadyMembers, first.UpdatedMembers)
	}
	if first.Rollout == nil || first.Rollout.Phase != v1alpha1.RolloutComplete {
		t.Errorf("rollout %+v, want Complete", first.Rollout)
	}
	if !meta.IsStatusConditionTrue(first.Conditions, v1alpha1.ConditionReady) {
		t.Errorf("conditions %+v, want Ready", first.Conditions)
	}
	if first.RingVersion == "" || first.RingVersion != ring.Version(&first, firstMembers) {
		t.Errorf("ring version %q, want ring.Version's %q", first.RingVersion, ring.Version(&first, firstMembers))
	}
	if len(res.Slices) != 1 || len(first.MemberSlices) != 1 || first.MemberSlices[0].Version != res.Slices[0].Version {
		t.Errorf("slices %+v named as %+v, want one, named with its version", res.Slices, first.MemberSlices)
	}

	// A restart, as the harness writes it: the status just written is the one before.
	s.ring.Status, s.members = first, firstMembers
	s.restart(1)
	res, err = s.resolve(now.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	next := res.Status
	if next.RingVersion == first.RingVersion {
		t.Error("a member's new address kept the ring version")
	}
	for i, m := range res.Members {
		wantAddress := firstMembers[i].Address
		if i == 1 {
			wantAddress = "10.0.0.4:8080"
		}
		if m.State != v1alpha1.MemberServing || m.Address != wantAddress {
			t.Errorf("after the restart member %d is %s at %q, want Serving at %s", m.Ordinal, m.State, m.Address, wantAddress)
		}
	}
}

func TestPodIPs(t *testing.T) {
	ips := &podIPs{}
	seen := map[string]bool{}
	var last string
	for range 1 << 16 {
		last = ips.next()
		if seen[last] {
			t.Fatalf("%s handed out twice", last)
		}
		seen[last] = true
	}
	if last != "10.1.0.0" {
		t.Errorf("the 65536th IP is %s, want 10.1.0.0", last)
	}
}

package ringhash_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/utils/ptr"

	"github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/balancer"
	"github.com/stablering/stablering/ringhash"
)

func TestConfig(t *testing.T) {
	members := []v1alpha1.Member{
		{Ordinal: 4, State: v1alpha1.MemberServing},
		{Ordinal: 3, State: v1alpha1.MemberPending},
		{Ordinal: 2, State: v1alpha1.MemberDraining},
		{Ordinal: 5, State: v1alpha1.MemberRestarting},
		{Ordinal: 6, State: v1alpha1.MemberDown},
		{Ordinal: 7, State: "Hibernating"},
	}
	joined := []int32{2, 4, 5, 6, 7}
	for _, tc := range []struct {
		name string
		hash *v1alpha1.HashSpec
		want balancer.Config
	}{
		{"defaults", nil, balancer.Config{Algorithm: balancer.Jump, Start: 2, Members: joined}},
		{"no algorithm", &v1alpha1.HashSpec{}, balancer.Config{Algorithm: balancer.Jump, Start: 2, Members: joined}},
		{"Ketama's default points", &v1alpha1.HashSpec{Algorithm: v1alpha1.AlgorithmKetama},
			balancer.Config{Algorithm: balancer.Ketama, Start: 2, Members: joined, VirtualNodes: balancer.DefaultVirtualNodes}},
		{"Ketama's points", &v1alpha1.HashSpec{Algorithm: v1alpha1.AlgorithmKetama, VirtualNodes: ptr.To[int32](40)},
			balancer.Config{Algorithm: balancer.Ketama, Start: 2, Members: joined, VirtualNodes: 40}},
		{"points of another algorithm", &v1alpha1.HashSpec{Algorithm: v1alpha1.AlgorithmMaglev, VirtualNodes: ptr.To[int32](40)},
			balancer.Config{Algorithm: balancer.Maglev, Start: 2, Members: joined}},
		{"an algorithm the API does not have", &v1alpha1.HashSpec{Algorithm: "Magic"},
			balancer.Config{Algorithm: "Magic", Start: 2, Members: joined}},
	} {
		got := ringhash.Config(tc.hash, 2, members)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: (-want +got)\n%s", tc.name, diff)
		}
	}
	if _, err := balancer.New(ringhash.Config(&v1alpha1.HashSpec{Algorithm: "Magic"}, 0, members)); err == nil {
		t.Error("the balancer builds a ring for an algorithm the API does not have")
	}
}

func TestSpec(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in, want *v1alpha1.HashSpec
	}{
		{"nil", nil, &v1alpha1.HashSpec{Algorithm: v1alpha1.AlgorithmJump}},
		{"Ketama", &v1alpha1.HashSpec{Algorithm: v1alpha1.AlgorithmKetama},
			&v1alpha1.HashSpec{Algorithm: v1alpha1.AlgorithmKetama, VirtualNodes: ptr.To[int32](balancer.DefaultVirtualNodes)}},
		{"Rendezvous with points", &v1alpha1.HashSpec{Algorithm: v1alpha1.AlgorithmRendezvous, VirtualNodes: ptr.To[int32](3)},
			&v1alpha1.HashSpec{Algorithm: v1alpha1.AlgorithmRendezvous}},
	} {
		if diff := cmp.Diff(tc.want, ringhash.Spec(tc.in)); diff != "" {
			t.Errorf("%s: (-want +got)\n%s", tc.name, diff)
		}
	}
}

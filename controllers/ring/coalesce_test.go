package ring

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stablering/stablering/api/v1alpha1"
)

func TestDeferrable(t *testing.T) {
	base := func() v1alpha1.StableRingStatus {
		return v1alpha1.StableRingStatus{
			RingVersion: "v1",
			Members: []v1alpha1.Member{
				{Ordinal: 0, State: v1alpha1.MemberServing, Address: "10.0.0.1:80"},
				{Ordinal: 1, State: v1alpha1.MemberRestarting, Address: "10.0.0.2:80"},
			},
			Rollout:    &v1alpha1.RolloutStatus{Phase: v1alpha1.RolloutProgressing, Batch: 1, Step: v1alpha1.BatchRestarting},
			Conditions: []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse}},
		}
	}
	cases := map[string]struct {
		change func(*v1alpha1.StableRingStatus)
		want   bool
	}{
		"a restarting member gets a new address": {func(s *v1alpha1.StableRingStatus) { s.Members[1].Address = "10.0.0.3:80" }, true},
		"a restarting member comes to Serving":   {func(s *v1alpha1.StableRingStatus) { s.Members[1].State = v1alpha1.MemberServing }, true},
		"counts and the ring version change":     {func(s *v1alpha1.StableRingStatus) { s.ReadyMembers, s.RingVersion = 2, "v2" }, true},
		"a serving member goes Down":             {func(s *v1alpha1.StableRingStatus) { s.Members[0].State = v1alpha1.MemberDown }, false},
		"a serving member moves":                 {func(s *v1alpha1.StableRingStatus) { s.Members[0].Address = "10.0.0.9:80" }, false},
		"a restarting member goes Down":          {func(s *v1alpha1.StableRingStatus) { s.Members[1].State = v1alpha1.MemberDown }, false},
		"the step changes":                       {func(s *v1alpha1.StableRingStatus) { s.Rollout.Step = v1alpha1.BatchSettling }, false},
		"the batch changes":                      {func(s *v1alpha1.StableRingStatus) { s.Rollout.Batch = 2 }, false},
		"the rollout ends":                       {func(s *v1alpha1.StableRingStatus) { s.Rollout = nil }, false},
		"a condition flips":                      {func(s *v1alpha1.StableRingStatus) { s.Conditions[0].Status = metav1.ConditionTrue }, false},
		"a member is added":                      {func(s *v1alpha1.StableRingStatus) { s.Members = append(s.Members, v1alpha1.Member{Ordinal: 2}) }, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			next := base()
			tc.change(&next)
			if got := Deferrable(base(), next); got != tc.want {
				t.Errorf("Deferrable = %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("a first status", func(t *testing.T) {
		if Deferrable(v1alpha1.StableRingStatus{}, base()) {
			t.Error("the first status of a ring was deferrable")
		}
	})
}

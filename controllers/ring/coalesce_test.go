package ring

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stablering/stablering/api/v1alpha1"
)

func TestDeferrable(t *testing.T) {
	base := func() versioned {
		return versioned{
			status: v1alpha1.StableRingStatus{
				RingVersion: "v1",
				Rollout:     &v1alpha1.RolloutStatus{Phase: v1alpha1.RolloutProgressing, Batch: 1, Step: v1alpha1.BatchRestarting},
				Conditions:  []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse}},
			},
			members: []v1alpha1.Member{
				{Ordinal: 0, State: v1alpha1.MemberServing, Address: "10.0.0.1:80"},
				{Ordinal: 1, State: v1alpha1.MemberRestarting, Address: "10.0.0.2:80"},
			},
		}
	}
	cases := map[string]struct {
		change func(*versioned)
		want   bool
	}{
		"a restarting member gets a new address": {func(v *versioned) { v.members[1].Address = "10.0.0.3:80" }, true},
		"a restarting member comes to Serving":   {func(v *versioned) { v.members[1].State = v1alpha1.MemberServing }, true},
		"counts and the ring version change":     {func(v *versioned) { v.status.ReadyMembers, v.status.RingVersion = 2, "v2" }, true},
		"a serving member goes Down":             {func(v *versioned) { v.members[0].State = v1alpha1.MemberDown }, false},
		"a serving member moves":                 {func(v *versioned) { v.members[0].Address = "10.0.0.9:80" }, false},
		"a restarting member goes Down":          {func(v *versioned) { v.members[1].State = v1alpha1.MemberDown }, false},
		"the step changes":                       {func(v *versioned) { v.status.Rollout.Step = v1alpha1.BatchSettling }, false},
		"the batch changes":                      {func(v *versioned) { v.status.Rollout.Batch = 2 }, false},
		"the rollout ends":                       {func(v *versioned) { v.status.Rollout = nil }, false},
		"a condition flips":                      {func(v *versioned) { v.status.Conditions[0].Status = metav1.ConditionTrue }, false},
		"a member is added":                      {func(v *versioned) { v.members = append(v.members, v1alpha1.Member{Ordinal: 2}) }, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			next := base()
			tc.change(&next)
			prev := base()
			if got := Deferrable(prev.status, prev.members, next.status, next.members); got != tc.want {
				t.Errorf("Deferrable = %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("a first status", func(t *testing.T) {
		next := base()
		if Deferrable(v1alpha1.StableRingStatus{}, nil, next.status, next.members) {
			t.Error("the first status of a ring was deferrable")
		}
	})
}

package ring

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/stablering/stablering/api/v1alpha1"
)

func TestTooManyMembers(t *testing.T) {
	sts := testStatefulSet(v1alpha1.MaxMembers+1, appsv1.OnDeleteStatefulSetStrategyType)
	res := Compute(Input{Ring: testRing(intstr.FromInt(8080)), StatefulSet: sts, Now: time.Unix(0, 0)})
	if n := len(res.Status.Members); n != int(v1alpha1.MaxMembers) {
		t.Errorf("%d members, want MaxMembers (%d)", n, v1alpha1.MaxMembers)
	}
	if last := res.Status.Members[len(res.Status.Members)-1].Ordinal; last != v1alpha1.MaxMembers-1 {
		t.Errorf("last member %d, want the first MaxMembers ordinals", last)
	}
	c := meta.FindStatusCondition(res.Status.Conditions, v1alpha1.ConditionDegraded)
	if c == nil || c.Reason != ReasonTooManyMembers {
		t.Errorf("Degraded = %+v, want reason %s", c, ReasonTooManyMembers)
	}
}

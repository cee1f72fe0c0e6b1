package ring

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/stablering/stablering/api/v1alpha1"
)

func TestTooManyMembers(t *testing.T) {
	sts := testStatefulSet(v1alpha1.MaxMembers+1, appsv1.OnDeleteStatefulSetStrategyType)
	res := Compute(Input{Ring: testRing(intstr.FromInt(8080)), StatefulSet: sts, Now: time.Unix(0, 0)})
	if n := len(res.Members); n != int(v1alpha1.MaxMembers) {
		t.Errorf("%d members, want MaxMembers (%d)", n, v1alpha1.MaxMembers)
	}
	if last := res.Members[len(res.Members)-1].Ordinal; last != v1alpha1.MaxMembers-1 {
		t.Errorf("last member %d, want the first MaxMembers ordinals", last)
	}
	c := meta.FindStatusCondition(res.Status.Conditions, v1alpha1.ConditionDegraded)
	if c == nil || c.Reason != ReasonTooManyMembers {
		t.Errorf("Degraded = %+v, want reason %s", c, ReasonTooManyMembers)
	}
}

// TestObjectSizesAtMaxMembers bounds the largest objects a ring writes at half of etcd's 1.5 MiB
// limit on an object: MaxMembers members with a 63-character StatefulSet name and IPv6
// addresses, in a rollout whose one batch is every member, each recorded as deleted. The
// StableRing is then about 136 KiB as JSON (the batch and its deleted pods; a batch of a few
// members leaves it at a few KiB) and each MemberSlice about 14 KiB; the API server adds a few
// hundred bytes of metadata and managed fields.
func TestObjectSizesAtMaxMembers(t *testing.T) {
	const limit = 1536 << 10 / 2
	name := strings.Repeat("s", 63)
	sts := testStatefulSet(v1alpha1.MaxMembers, appsv1.OnDeleteStatefulSetStrategyType)
	sts.Name = name
	ring := testRing(intstr.FromString("http"))
	ring.Name = strings.Repeat("r", 243)
	ring.Spec.StatefulSetName = name
	pods := make([]corev1.Pod, 0, v1alpha1.MaxMembers)
	for i := range v1alpha1.MaxMembers {
		pod := testPod(i, oldRev, true, fmt.Sprintf("fd00:1234:5678:9abc:def0:1234:%x:%x", i/65536, i%65536))
		pod.Name = fmt.Sprintf("%s-%d", name, i)
		pod.UID = types.UID(fmt.Sprintf("00000000-0000-0000-0000-%012d", i))
		pods = append(pods, pod)
	}
	res := Compute(Input{Ring: ring, StatefulSet: sts, Pods: pods, Now: t0})
	status := res.Status
	status.Rollout.BatchMembers, status.Rollout.DeletedPods = nil, nil
	for i, pod := range pods {
		status.Rollout.BatchMembers = append(status.Rollout.BatchMembers, res.Members[i].Ordinal)
		status.Rollout.DeletedPods = append(status.Rollout.DeletedPods, v1alpha1.DeletedPod{Ordinal: res.Members[i].Ordinal, UID: string(pod.UID)})
	}
	if len(res.Slices) != int(v1alpha1.MaxMemberSlices) {
		t.Errorf("%d MemberSlices at %d members, want %d", len(res.Slices), v1alpha1.MaxMembers, v1alpha1.MaxMemberSlices)
	}
	objects := []any{&v1alpha1.StableRing{ObjectMeta: ring.ObjectMeta, Spec: ring.Spec, Status: status}}
	for i := range res.Slices {
		objects = append(objects, &res.Slices[i])
	}
	for i, obj := range objects {
		body, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		what := "the StableRing"
		if i > 0 {
			what = "MemberSlice " + res.Slices[i-1].Name[len(ring.Name):]
		}
		t.Logf("%s at %d members: %d bytes", what, v1alpha1.MaxMembers, len(body))
		if len(body) > limit {
			t.Errorf("%s at %d members is %d bytes, over %d", what, v1alpha1.MaxMembers, len(body), limit)
		}
	}
}

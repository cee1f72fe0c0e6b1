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

// TestStatusSizeAtMaxMembers bounds the largest status a ring can have at half of etcd's 1.5 MiB
// limit on an object: MaxMembers members with a 63-character StatefulSet name and IPv6
// addresses, in a rollout whose one batch is every member, each recorded as deleted (about
// 391 KiB as JSON; the API server adds a few hundred bytes of metadata and managed fields).
func TestStatusSizeAtMaxMembers(t *testing.T) {
	const limit = 1536 << 10 / 2
	name := strings.Repeat("s", 63)
	sts := testStatefulSet(v1alpha1.MaxMembers, appsv1.OnDeleteStatefulSetStrategyType)
	sts.Name = name
	ring := testRing(intstr.FromString("http"))
	ring.Spec.StatefulSetName = name
	pods := make([]corev1.Pod, 0, v1alpha1.MaxMembers)
	for i := range v1alpha1.MaxMembers {
		pod := testPod(i, oldRev, true, fmt.Sprintf("fd00:1234:5678:9abc:def0:1234:%x:%x", i/65536, i%65536))
		pod.Name = fmt.Sprintf("%s-%d", name, i)
		pod.UID = types.UID(fmt.Sprintf("00000000-0000-0000-0000-%012d", i))
		pods = append(pods, pod)
	}
	status := Compute(Input{Ring: ring, StatefulSet: sts, Pods: pods, Now: t0}).Status
	status.Rollout.BatchMembers, status.Rollout.DeletedPods = nil, nil
	for i, pod := range pods {
		status.Rollout.BatchMembers = append(status.Rollout.BatchMembers, status.Members[i].Ordinal)
		status.Rollout.DeletedPods = append(status.Rollout.DeletedPods, v1alpha1.DeletedPod{Ordinal: status.Members[i].Ordinal, UID: string(pod.UID)})
	}
	body, err := json.Marshal(&v1alpha1.StableRing{ObjectMeta: ring.ObjectMeta, Spec: ring.Spec, Status: status})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a StableRing at %d members: %d bytes", v1alpha1.MaxMembers, len(body))
	if len(body) > limit {
		t.Errorf("a StableRing at %d members is %d bytes, over %d", v1alpha1.MaxMembers, len(body), limit)
	}
}

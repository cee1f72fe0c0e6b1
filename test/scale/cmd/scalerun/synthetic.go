package main

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/controllers/ring"
)

// syntheticRevision is the one controller revision of a synthetic ring's pods.
const syntheticRevision = "synthetic-1"

// syntheticRing is a StableRing whose StatefulSet and pods exist only in memory. Its MemberSlices
// and status are what the manager would write for them: ring.Compute, the manager's own
// resolution, computes them. It lets the gateways be measured at sizes the node simulator cannot
// run.
type syntheticRing struct {
	ring    *v1alpha1.StableRing // the object as last created or written
	members []v1alpha1.Member    // the members last written
	slices  map[string]*v1alpha1.MemberSlice
	sts     *appsv1.StatefulSet
	pods    []corev1.Pod // by ordinal
	ips     *podIPs
}

// newSyntheticRing gives sr (created, so with its generation) a StatefulSet of n Ready pods,
// every one at the update revision with an address from ips.
func newSyntheticRing(sr *v1alpha1.StableRing, n int, ips *podIPs) *syntheticRing {
	s := &syntheticRing{
		ring: sr,
		sts: &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Name: sr.Spec.StatefulSetName, Namespace: sr.Namespace, Generation: 1},
			Spec: appsv1.StatefulSetSpec{
				Replicas:            ptr.To(int32(n)),
				PodManagementPolicy: appsv1.ParallelPodManagement,
				UpdateStrategy:      appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType},
			},
			Status: appsv1.StatefulSetStatus{
				ObservedGeneration: 1, Replicas: int32(n), ReadyReplicas: int32(n),
				CurrentRevision: syntheticRevision, UpdateRevision: syntheticRevision,
			},
		},
		slices: map[string]*v1alpha1.MemberSlice{},
		pods:   make([]corev1.Pod, n),
		ips:    ips,
	}
	for ordinal := range n {
		s.restart(ordinal)
	}
	return s
}

// restart replaces the pod of ordinal with a new one, Ready at another address, as a pod that
// crashed and came back.
func (s *syntheticRing) restart(ordinal int) {
	name := s.sts.Name + "-" + strconv.Itoa(ordinal)
	ip := s.ips.next()
	s.pods[ordinal] = corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: s.sts.Namespace, UID: types.UID(name + "@" + ip),
			Labels: map[string]string{
				appsv1.StatefulSetRevisionLabel: syntheticRevision,
				appsv1.PodIndexLabel:            strconv.Itoa(ordinal),
			},
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "chat", Ports: []corev1.ContainerPort{memberPort}}}},
		Status: corev1.PodStatus{
			PodIP:      ip,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		},
	}
}

// resolve is the resolution the manager would write now. A synthetic ring never rolls out, so a
// resolution that would delete pods is an error.
func (s *syntheticRing) resolve(now time.Time) (ring.Result, error) {
	res := ring.Compute(ring.Input{Ring: s.ring, Members: s.members, StatefulSet: s.sts, Pods: s.pods, Now: now})
	if len(res.Delete) > 0 {
		return res, fmt.Errorf("%s/%s: the synthetic ring would delete %d pods", s.ring.Namespace, s.ring.Name, len(res.Delete))
	}
	return res, nil
}

// podIPs hands out distinct pod IPs, 10.0.0.1 upwards, from any goroutine.
type podIPs struct{ last atomic.Uint32 }

func (p *podIPs) next() string {
	v := p.last.Add(1)
	if v >= 1<<24 {
		panic("scalerun: more synthetic pod IPs than 10.0.0.0/8 holds")
	}
	return fmt.Sprintf("10.%d.%d.%d", v>>16, v>>8&0xff, v&0xff)
}

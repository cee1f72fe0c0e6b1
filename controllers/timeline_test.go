package controllers_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stablering/stablering/api/v1alpha1"
)

// podSample is a pod as a watch event showed it, and when the test saw it.
type podSample struct {
	at              time.Time
	name, uid       string
	ready, deleting bool
	gone            bool
}

// ringSample is a StableRing's status and members as watch events showed them, and when the
// test saw them.
type ringSample struct {
	at      time.Time
	name    string
	status  v1alpha1.StableRingStatus
	members []v1alpha1.Member
}

// timeline records the watch events of a namespace's pods, StableRings and MemberSlices, with the
// time the test saw each. A ring is recorded whenever its status and slices assemble, as a
// gateway would route by them.
type timeline struct {
	mu     sync.Mutex
	pods   []podSample
	rings  []ringSample
	latest map[string]*v1alpha1.StableRing
	slices map[string]*v1alpha1.MemberSlice
	// statusWrites and sliceWrites count the updates of StableRings and MemberSlices seen.
	statusWrites, sliceWrites int
}

// recordTimeline watches the pods and StableRings of namespace until the spec ends.
func recordTimeline(ctx SpecContext, namespace string) *timeline {
	GinkgoHelper()
	t := &timeline{latest: map[string]*v1alpha1.StableRing{}, slices: map[string]*v1alpha1.MemberSlice{}}
	podWatch, err := k8s.Watch(ctx, &corev1.PodList{}, client.InNamespace(namespace))
	Expect(err).NotTo(HaveOccurred())
	ringWatch, err := k8s.Watch(ctx, &v1alpha1.StableRingList{}, client.InNamespace(namespace))
	Expect(err).NotTo(HaveOccurred())
	sliceWatch, err := k8s.Watch(ctx, &v1alpha1.MemberSliceList{}, client.InNamespace(namespace))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(podWatch.Stop)
	DeferCleanup(ringWatch.Stop)
	DeferCleanup(sliceWatch.Stop)
	DeferCleanup(func() {
		if CurrentSpecReport().Failed() {
			GinkgoWriter.Print(t.String())
		}
	})
	go t.consume(podWatch, func(e watch.Event, at time.Time) {
		if pod, ok := e.Object.(*corev1.Pod); ok {
			t.pods = append(t.pods, podSample{
				at: at, name: pod.Name, uid: string(pod.UID),
				ready: isReady(pod), deleting: pod.DeletionTimestamp != nil, gone: e.Type == watch.Deleted,
			})
		}
	})
	go t.consume(ringWatch, func(e watch.Event, at time.Time) {
		if sr, ok := e.Object.(*v1alpha1.StableRing); ok {
			if e.Type == watch.Modified {
				t.statusWrites++
			}
			t.latest[sr.Name] = sr
			t.recordRing(sr.Name, at)
		}
	})
	go t.consume(sliceWatch, func(e watch.Event, at time.Time) {
		if s, ok := e.Object.(*v1alpha1.MemberSlice); ok {
			if e.Type == watch.Modified {
				t.sliceWrites++
			}
			t.slices[s.Name] = s
			if e.Type == watch.Deleted {
				delete(t.slices, s.Name)
			}
			t.recordRing(s.Ring, at)
		}
	})
	return t
}

// recordRing records the StableRing named name if its status and slices assemble.
func (t *timeline) recordRing(name string, at time.Time) {
	sr := t.latest[name]
	if sr == nil {
		return
	}
	members, err := sr.AssembleMembers(func(name string) *v1alpha1.MemberSlice { return t.slices[name] })
	if err == nil {
		t.rings = append(t.rings, ringSample{at: at, name: name, status: *sr.Status.DeepCopy(), members: members})
	}
}

func (t *timeline) consume(w watch.Interface, record func(watch.Event, time.Time)) {
	for e := range w.ResultChan() {
		at := time.Now()
		t.mu.Lock()
		record(e, at)
		t.mu.Unlock()
	}
}

func isReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// maxDown replays the pod events and returns the largest number of the n ordinals that were at
// once without a Ready pod that is not being deleted. It starts counting once every ordinal's pod
// has been seen.
func (t *timeline) maxDown(n int32) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	state := map[string]podSample{}
	most, listed := 0, false
	for _, s := range t.pods {
		if s.gone {
			if state[s.name].uid == s.uid {
				delete(state, s.name)
			}
		} else {
			state[s.name] = s
		}
		if listed = listed || len(state) == int(n); !listed {
			continue // still listing the pods
		}
		down := 0
		for o := range n {
			p, ok := state[podName(o)]
			if !ok || !p.ready || p.deleting {
				down++
			}
		}
		most = max(most, down)
	}
	return most
}

// batches returns the distinct batches the StableRing's status went through, in order.
func (t *timeline) batches() [][]int32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out [][]int32
	for _, s := range t.rings {
		r := s.status.Rollout
		if r == nil || len(r.BatchMembers) == 0 {
			continue
		}
		if len(out) == 0 || !slices.Equal(out[len(out)-1], r.BatchMembers) {
			out = append(out, slices.Clone(r.BatchMembers))
		}
	}
	return out
}

// sawStep reports whether the StableRing's rollout was seen at step of batch.
func (t *timeline) sawStep(batch int32, step v1alpha1.BatchStep) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.ContainsFunc(t.rings, func(s ringSample) bool {
		r := s.status.Rollout
		return r != nil && r.Batch == batch && r.Step == step
	})
}

// firstState returns when the test first saw member ordinal in state, after since.
func (t *timeline) firstState(ordinal int32, state v1alpha1.MemberState, since time.Time) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.rings {
		if s.at.Before(since) {
			continue
		}
		for _, m := range s.members {
			if m.Ordinal == ordinal && m.State == state {
				return s.at, true
			}
		}
	}
	return time.Time{}, false
}

// deletions returns, for each pod UID that got a deletion timestamp, the pod's name and when the
// test first saw the deletion.
func (t *timeline) deletions() map[string]podSample {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]podSample{}
	for _, s := range t.pods {
		if _, seen := out[s.uid]; !seen && (s.deleting || s.gone) {
			out[s.uid] = s
		}
	}
	return out
}

// String lists the recorded events, for the report of a failed spec.
func (t *timeline) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	for _, s := range t.pods {
		fmt.Fprintf(&b, "%s pod %s uid=%s ready=%v deleting=%v gone=%v\n", s.at.Format("15:04:05.000"), s.name, s.uid, s.ready, s.deleting, s.gone)
	}
	for _, s := range t.rings {
		r := s.status.Rollout
		if r == nil {
			r = &v1alpha1.RolloutStatus{}
		}
		fmt.Fprintf(&b, "%s ring %s %s batch=%d %v step=%s since=%v members=%v\n", s.at.Format("15:04:05.000"), s.name, r.Phase, r.Batch, r.BatchMembers, r.Step, r.StepStartTime, memberStates(s.members))
	}
	return b.String()
}

package harness

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/gateway/resolved"
)

// DeletedPod is a chat pod that was deleted (got a deletion timestamp).
type DeletedPod struct {
	Pod      string
	Ordinal  int32
	UID      types.UID
	Revision string // its controller-revision-hash label
	At       time.Duration
}

// Batch is a rollout batch as the StableRing's status published it.
type Batch struct {
	Number  int32
	Members []int32
	At      time.Duration
}

// RingSample is the StableRing's status, and its members, at a moment.
type RingSample struct {
	At     time.Duration
	Line   string                         // FormatRing
	States map[int32]v1alpha1.MemberState // by ordinal
	Ring   *v1alpha1.StableRing
}

// Recorder follows an app's pods and StableRing and keeps a timeline: how many of the
// StatefulSet's ordinals had no Ready pod at once, which pods were deleted, the rollout batches
// and every status change of the ring (with its members, from its MemberSlices).
type Recorder struct {
	app      App
	start    time.Time
	replicas int32
	onRing   func(RingSample)

	mu       sync.Mutex
	pods     map[types.UID]*corev1.Pod
	deleted  map[types.UID]DeletedPod
	down     int
	maxDown  int
	downAt   []DownSample
	batches  []Batch
	samples  []RingSample
	lastLine string
}

// DownSample is a change of the number of ordinals without a Ready pod.
type DownSample struct {
	At      time.Duration
	Down    int
	Ordinal []int32
}

// Record starts recording app until ctx ends. Ordinals 0..replicas-1 count as down while they
// have no Ready, not terminating pod (SetReplicas changes the range). onRing, if set, is called
// (from one goroutine) on every status change of the ring.
func (c *Cluster) Record(ctx context.Context, app App, replicas int32, onRing func(RingSample)) (*Recorder, error) {
	ctx = c.scoped(ctx)
	r := &Recorder{
		app: app, start: time.Now(), replicas: replicas, onRing: onRing,
		pods: map[types.UID]*corev1.Pod{}, deleted: map[types.UID]DeletedPod{},
	}
	factory := informers.NewSharedInformerFactoryWithOptions(c.Kube, 0,
		informers.WithNamespace(app.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = labels.SelectorFromSet(app.Selector()).String()
		}))
	inf := factory.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.pod(obj, false) },
		UpdateFunc: func(_, obj any) { r.pod(obj, false) },
		DeleteFunc: func(obj any) { r.pod(obj, true) },
	}); err != nil {
		return nil, err
	}
	factory.Start(ctx.Done())
	if !toolscache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return nil, errors.New("pod cache did not sync")
	}
	go r.watchRing(ctx, c.Client)
	return r, nil
}

// Since returns the time since the recorder started.
func (r *Recorder) Since() time.Duration { return time.Since(r.start) }

func (r *Recorder) pod(obj any, gone bool) {
	if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	at := r.Since()
	r.mu.Lock()
	defer r.mu.Unlock()
	if gone {
		delete(r.pods, pod.UID)
	} else {
		r.pods[pod.UID] = pod
	}
	if pod.DeletionTimestamp != nil || gone {
		if _, seen := r.deleted[pod.UID]; !seen {
			r.deleted[pod.UID] = DeletedPod{Pod: pod.Name, Ordinal: Ordinal(pod.Name), UID: pod.UID,
				Revision: pod.Labels[appsv1.ControllerRevisionHashLabelKey], At: at}
		}
	}
	r.countDown(at)
}

// countDown recomputes the ordinals without a Ready pod; r.mu is held.
func (r *Recorder) countDown(at time.Duration) {
	up := map[int32]bool{}
	for _, p := range r.pods {
		if p.DeletionTimestamp == nil && PodReady(p) {
			up[Ordinal(p.Name)] = true
		}
	}
	var down []int32
	for o := range r.replicas {
		if !up[o] {
			down = append(down, o)
		}
	}
	if len(down) != r.down {
		r.down = len(down)
		r.downAt = append(r.downAt, DownSample{At: at, Down: len(down), Ordinal: down})
	}
	r.maxDown = max(r.maxDown, len(down))
}

// SetReplicas changes the ordinals counted as down (after a scale) and resets the maximum.
func (r *Recorder) SetReplicas(n int32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.replicas = n
	r.maxDown = 0
	r.countDown(r.Since())
}

// ResetMaxDown forgets the maximum of pods down at once so far.
func (r *Recorder) ResetMaxDown() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.maxDown = r.down
}

// MaxDown returns the most ordinals that had no Ready pod at once since the start or the last
// reset.
func (r *Recorder) MaxDown() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.maxDown
}

// DownTimeline returns the changes of the number of ordinals down.
func (r *Recorder) DownTimeline() []DownSample {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.downAt)
}

// Deleted returns the pods deleted so far, in order.
func (r *Recorder) Deleted() []DeletedPod {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]DeletedPod, 0, len(r.deleted))
	for _, d := range r.deleted {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b DeletedPod) int { return int(a.At - b.At) })
	return out
}

// Batches returns the rollout batches seen so far.
func (r *Recorder) Batches() []Batch {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.batches)
}

// Samples returns the ring's status changes seen so far.
func (r *Recorder) Samples() []RingSample {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.samples)
}

// Timeline formats the recorded ring lines and pods-down changes, for failure messages.
func (r *Recorder) Timeline() string {
	var b strings.Builder
	for _, s := range r.Samples() {
		fmt.Fprintf(&b, "%6.1fs %s\n", s.At.Seconds(), s.Line)
	}
	for _, d := range r.DownTimeline() {
		fmt.Fprintf(&b, "%6.1fs down=%d %v\n", d.At.Seconds(), d.Down, d.Ordinal)
	}
	for _, d := range r.Deleted() {
		fmt.Fprintf(&b, "%6.1fs deleted %s uid=%s revision=%s\n", d.At.Seconds(), d.Pod, d.UID, d.Revision)
	}
	return b.String()
}

// watchRing follows the StableRing until ctx ends, re-watching when a watch ends.
func (r *Recorder) watchRing(ctx context.Context, cl client.WithWatch) {
	for ctx.Err() == nil {
		list := &v1alpha1.StableRingList{}
		if err := cl.List(ctx, list, client.InNamespace(r.app.Namespace)); err != nil {
			sleepCtx(ctx, time.Second)
			continue
		}
		for i := range list.Items {
			r.ring(ctx, cl, &list.Items[i])
		}
		w, err := cl.Watch(ctx, &v1alpha1.StableRingList{}, client.InNamespace(r.app.Namespace),
			&client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
		if err != nil {
			sleepCtx(ctx, time.Second)
			continue
		}
		for ev := range w.ResultChan() {
			if sr, ok := ev.Object.(*v1alpha1.StableRing); ok && ev.Type != watch.Deleted && ev.Type != watch.Error {
				r.ring(ctx, cl, sr)
			}
		}
		w.Stop()
	}
}

// ring records sr with its members, read from its MemberSlices. A status whose slices the
// controller has overwritten since (it writes them before the status that names them) is not
// recorded: the status that names them follows.
func (r *Recorder) ring(ctx context.Context, cl client.Reader, sr *v1alpha1.StableRing) {
	if sr.Name != r.app.Name {
		return
	}
	ring, err := withMembers(ctx, cl, sr)
	if err != nil {
		return
	}
	line := FormatRing(ring)
	r.mu.Lock()
	if line == r.lastLine {
		r.mu.Unlock()
		return
	}
	r.lastLine = line
	s := RingSample{At: r.Since(), Line: line, States: map[int32]v1alpha1.MemberState{}, Ring: sr.DeepCopy()}
	for _, m := range ring.Members {
		s.States[m.Ordinal] = m.State
	}
	if ro := sr.Status.Rollout; ro != nil && ro.Batch > 0 && len(ro.BatchMembers) > 0 {
		if n := len(r.batches); n == 0 || r.batches[n-1].Number != ro.Batch || !slices.Equal(r.batches[n-1].Members, ro.BatchMembers) {
			r.batches = append(r.batches, Batch{Number: ro.Batch, Members: slices.Clone(ro.BatchMembers), At: s.At})
		}
	}
	r.samples = append(r.samples, s)
	r.mu.Unlock()
	if r.onRing != nil {
		r.onRing(s)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// stateLetters abbreviate member states in FormatRing.
var stateLetters = map[v1alpha1.MemberState]string{
	v1alpha1.MemberServing:    "S",
	v1alpha1.MemberDraining:   "D",
	v1alpha1.MemberRestarting: "R",
	v1alpha1.MemberDown:       "X",
	v1alpha1.MemberPending:    "P",
}

// RingHeader is the header of FormatRing's columns.
const RingHeader = "NAME   READY  REPLICAS  UPDATED  PHASE        BATCH              MEMBERS   RING"

// StatesLegend explains the MEMBERS column.
const StatesLegend = "MEMBERS: one letter per ordinal: S Serving, D Draining, R Restarting, X Down, P Pending"

// FormatRing formats a StableRing as one line of `kubectl get sr -w`, with the rollout's batch
// and step and the member states, one letter per ordinal.
func FormatRing(sr *resolved.Ring) string {
	st := sr.Status
	phase, batch := "-", "-"
	if ro := st.Rollout; ro != nil {
		phase = string(ro.Phase)
		if ro.Batch > 0 {
			batch = fmt.Sprintf("%d%v", ro.Batch, ro.BatchMembers)
			if len(ro.BatchMembers) == 0 {
				batch = "-"
			}
			if ro.Step != "" {
				batch += " " + string(ro.Step)
			}
		}
	}
	var states strings.Builder
	for _, m := range sr.Members {
		l, ok := stateLetters[m.State]
		if !ok {
			l = "?"
		}
		states.WriteString(l)
	}
	ring := st.RingVersion
	if ring == "" {
		ring = "-"
	}
	return fmt.Sprintf("%-6s %-6d %-9d %-8d %-12s %-18s %-9s %s",
		sr.Name, st.ReadyMembers, st.Replicas, st.UpdatedMembers, phase, batch, states.String(), ring)
}

// errorsJoin is errors.Join.
func errorsJoin(errs ...error) error { return errors.Join(errs...) }

package nodesim

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// phase is where a pod instance is in its life on the node.
type phase int

const (
	starting phase = iota // IP assigned, Runtime.Start has not succeeded yet
	running               // started; its status is kept up to date
	stopping              // deleted; Runtime.Stop is running
	stopped               // Runtime.Stop returned; the pod is to be removed
)

// podState is the simulator's record of one pod instance on its node.
type podState struct {
	uid       types.UID
	pod       *corev1.Pod // as last synced
	ip        string
	phase     phase
	startedAt time.Time
	notReady  bool // set by SetReady(false)
}

// sync moves the pod at key one step on and returns when to look at it again (0: on its next
// change).
func (s *Simulator) sync(ctx context.Context, key string) (time.Duration, error) {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, err
	}
	pod, err := s.pods.Pods(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		s.forget(ctx, key, "")
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	s.forget(ctx, key, pod.UID)
	switch {
	case pod.Spec.NodeName == "" && pod.DeletionTimestamp == nil:
		return 0, s.bind(ctx, pod)
	case pod.Spec.NodeName != s.opts.NodeName:
		return 0, nil
	case pod.DeletionTimestamp != nil:
		return 0, s.terminate(ctx, pod)
	case pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed:
		return 0, nil
	default:
		return s.run(ctx, pod)
	}
}

// forget drops the record at key unless it belongs to the pod instance keep. A running pod's
// containers are stopped at once: the pod was removed without grace or replaced.
func (s *Simulator) forget(ctx context.Context, key string, keep types.UID) {
	s.mu.Lock()
	st := s.states[key]
	if st == nil || st.uid == keep {
		s.mu.Unlock()
		return
	}
	delete(s.states, key)
	s.ips.Release(string(st.uid))
	wasRunning := st.phase == running
	s.mu.Unlock()
	s.opts.Log.V(1).Info("pod gone", "pod", key, "ip", st.ip)
	if wasRunning {
		s.stopNow(ctx, st.pod)
	}
}

// bind schedules pod onto the node, unless another node got it first.
func (s *Simulator) bind(ctx context.Context, pod *corev1.Pod) error {
	err := s.client.CoreV1().Pods(pod.Namespace).Bind(ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: s.opts.NodeName},
	}, metav1.CreateOptions{})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// run starts pod if needed and reports its status and readiness.
func (s *Simulator) run(ctx context.Context, pod *corev1.Pod) (time.Duration, error) {
	st, err := s.start(ctx, pod)
	if err != nil {
		return 0, err
	}
	ready, recheck := s.readiness(ctx, pod, st)
	return recheck, s.updateStatus(ctx, pod, s.report(pod, st, ready))
}

// start records pod with an IP on first sight and has the Runtime start it.
func (s *Simulator) start(ctx context.Context, pod *corev1.Pod) (*podState, error) {
	st, err := s.admit(pod)
	if err != nil || st.phase != starting {
		return st, err
	}
	if err := s.opts.Runtime.Start(ctx, pod, st.ip); err != nil {
		return nil, fmt.Errorf("starting containers: %w", err)
	}
	s.mu.Lock()
	st.phase, st.startedAt = running, time.Now()
	s.mu.Unlock()
	s.opts.Log.Info("pod started", "pod", podKey(pod), "ip", st.ip)
	return st, nil
}

// admit returns the record of pod, creating it with an IP on first sight.
func (s *Simulator) admit(pod *corev1.Pod) (*podState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.states[podKey(pod)]; st != nil {
		st.pod = pod
		return st, nil
	}
	ip, err := s.assignIP(pod)
	if err != nil {
		return nil, err
	}
	st := &podState{uid: pod.UID, pod: pod, ip: ip}
	s.states[podKey(pod)] = st
	return st, nil
}

// assignIP keeps the IP the pod reports if it is free (an earlier simulator assigned it) and
// allocates a new one otherwise.
func (s *Simulator) assignIP(pod *corev1.Pod) (string, error) {
	if s.ips.Reserve(string(pod.UID), pod.Status.PodIP) {
		return pod.Status.PodIP, nil
	}
	return s.ips.Allocate(string(pod.UID))
}

// readiness reports whether the started pod is ready and when to check again.
func (s *Simulator) readiness(ctx context.Context, pod *corev1.Pod, st *podState) (bool, time.Duration) {
	if wait := time.Until(st.startedAt.Add(s.opts.ReadyDelay)); wait > 0 {
		return false, wait
	}
	s.mu.Lock()
	notReady := st.notReady
	s.mu.Unlock()
	return !notReady && s.opts.Runtime.Ready(ctx, pod, st.ip), s.opts.ProbePeriod
}

// report is what the status of the started pod shows, with what the Runtime reports about its
// containers if it is a ContainerReporter.
func (s *Simulator) report(pod *corev1.Pod, st *podState, ready bool) PodState {
	report := PodState{IP: st.ip, HostIP: HostIP, StartedAt: st.startedAt, Ready: ready}
	if r, ok := s.opts.Runtime.(ContainerReporter); ok {
		report.Containers = r.Containers(pod)
	}
	return report
}

// terminate handles a deleted pod: a running one turns not ready at once and is stopped in the
// background within its capped grace period; once stopped (or if it never ran) it is removed.
func (s *Simulator) terminate(ctx context.Context, pod *corev1.Pod) error {
	s.mu.Lock()
	st := s.states[podKey(pod)]
	current := starting
	if st != nil {
		current = st.phase
	}
	s.mu.Unlock()
	switch current {
	case running:
		if err := s.updateStatus(ctx, pod, s.report(pod, st, false)); err != nil {
			return err
		}
		s.setPhase(st, stopping)
		s.stops.Go(func() { s.stopGracefully(ctx, pod, st) })
		return nil
	case stopping:
		return nil
	case starting, stopped:
		return s.forceDelete(ctx, pod)
	default:
		return fmt.Errorf("pod %s is in phase %d, which the simulator does not have", podKey(pod), current)
	}
}

// stopGracefully stops the pod's containers and queues the pod for removal.
func (s *Simulator) stopGracefully(ctx context.Context, pod *corev1.Pod, st *podState) {
	grace := min(time.Duration(ptr.Deref(pod.DeletionGracePeriodSeconds, 0))*time.Second, s.opts.MaxGrace)
	s.opts.Log.Info("pod stopping", "pod", podKey(pod), "grace", grace)
	if err := s.opts.Runtime.Stop(ctx, pod, grace); err != nil {
		s.opts.Log.Error(err, "stopping pod", "pod", podKey(pod))
	}
	s.setPhase(st, stopped)
	s.queue.Add(podKey(pod))
}

func (s *Simulator) setPhase(st *podState, p phase) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st.phase = p
}

// stopNow has the Runtime kill the pod's containers without grace.
func (s *Simulator) stopNow(ctx context.Context, pod *corev1.Pod) {
	if err := s.opts.Runtime.Stop(ctx, pod, 0); err != nil {
		s.opts.Log.Error(err, "stopping pod", "pod", podKey(pod))
	}
}

// stopAll stops the containers of every running pod at once; the simulator is shutting down.
func (s *Simulator) stopAll() {
	s.mu.Lock()
	var pods []*corev1.Pod
	for _, st := range s.states {
		if st.phase == running {
			pods = append(pods, st.pod)
		}
	}
	s.mu.Unlock()
	for _, pod := range pods {
		s.stopNow(context.Background(), pod)
	}
}

// forceDelete removes this instance of pod from the API at once, as a kubelet does once its
// containers are gone.
func (s *Simulator) forceDelete(ctx context.Context, pod *corev1.Pod) error {
	err := s.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      metav1.NewUIDPreconditions(string(pod.UID)),
	})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // gone already, or replaced by a new pod of the same name
	}
	return err
}

// updateStatus writes the status BuildStatus derives from st unless the pod has it already,
// retrying conflicts with a fresh copy of the same pod instance.
func (s *Simulator) updateStatus(ctx context.Context, pod *corev1.Pod, st PodState) error {
	pods := s.client.CoreV1().Pods(pod.Namespace)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		status := BuildStatus(pod, st, time.Now())
		if apiequality.Semantic.DeepEqual(pod.Status, status) {
			return nil
		}
		update := pod.DeepCopy()
		update.Status = status
		_, err := pods.UpdateStatus(ctx, update, metav1.UpdateOptions{})
		if !apierrors.IsConflict(err) {
			return ignoreNotFound(err)
		}
		fresh, getErr := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if getErr != nil || fresh.UID != pod.UID {
			return ignoreNotFound(getErr)
		}
		pod = fresh
		return err
	})
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

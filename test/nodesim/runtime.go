package nodesim

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Runtime runs the containers of the pods bound to the simulated node, in place of a kubelet's
// container runtime. The simulator calls it for different pods concurrently, and never
// concurrently for one pod.
type Runtime interface {
	// Start starts the pod's containers with the pod's IP ip. It should return quickly; on an
	// error the simulator retries with backoff.
	Start(ctx context.Context, pod *corev1.Pod, ip string) error
	// Ready reports whether the started pod is ready (its readiness probes pass). The simulator
	// asks once per probe period.
	Ready(ctx context.Context, pod *corev1.Pod, ip string) bool
	// Stop stops the pod's containers, giving them grace to exit before killing them, and returns
	// once they are gone. When ctx ends it must kill them at once.
	Stop(ctx context.Context, pod *corev1.Pod, grace time.Duration) error
}

// ContainerReporter is implemented by a Runtime that tracks the containers of the pods it runs,
// e.g. restarting those that exit; the simulator reports what it returns in the pods' container
// statuses, asking once per probe period after Ready.
type ContainerReporter interface {
	// Containers returns the state of the containers of the started pod by name. A container it
	// leaves out is reported running since the pod started, never restarted.
	Containers(pod *corev1.Pod) map[string]ContainerStatus
}

// ContainerStatus is the state of one container of a started pod.
type ContainerStatus struct {
	// RestartCount is how often the container was restarted.
	RestartCount int32
	// StartedAt is when the running instance of the container started; zero means when the pod
	// started.
	StartedAt time.Time
	// Waiting, when not empty, is why the container is not running, e.g. "CrashLoopBackOff". A
	// pod with a waiting container is not ready.
	Waiting string
	// LastTermination tells how the previous instance ended, if one did.
	LastTermination *corev1.ContainerStateTerminated
}

// IdleRuntime runs nothing: a pod is ready as soon as it starts and takes its whole grace period
// to stop, like a server that drains its connections until it is killed.
type IdleRuntime struct{}

var _ Runtime = IdleRuntime{}

// Start does nothing.
func (IdleRuntime) Start(context.Context, *corev1.Pod, string) error { return nil }

// Ready is always true.
func (IdleRuntime) Ready(context.Context, *corev1.Pod, string) bool { return true }

// Stop waits for grace or for ctx to end.
func (IdleRuntime) Stop(ctx context.Context, _ *corev1.Pod, grace time.Duration) error {
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	return nil
}

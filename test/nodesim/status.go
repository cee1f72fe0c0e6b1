package nodesim

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// runtimeName prefixes the container IDs the simulator reports.
const runtimeName = "nodesim"

// PodState is what the simulator knows about a started pod.
type PodState struct {
	IP        string
	HostIP    string
	StartedAt time.Time
	// Ready is false while the pod is not ready yet, marked not ready, or terminating.
	Ready bool
	// Containers are the states of the containers a ContainerReporter reported, by name; the
	// others run since StartedAt and never restarted.
	Containers map[string]ContainerStatus
}

// BuildStatus returns the status a kubelet would report for pod in state st: phase Running, the
// IPs, completed init containers, the containers (running, or waiting to restart, with their
// restart counts and last terminations) and the PodScheduled, Initialized, ContainersReady and
// Ready conditions; the pod is ready if st is and no container is waiting. Fields the simulator
// does not manage (e.g. qosClass, other conditions) are kept; a condition's lastTransitionTime
// becomes now only when its status changes. Times are truncated to seconds, as the API stores
// them, so an unchanged pod yields an equal status.
func BuildStatus(pod *corev1.Pod, st PodState, now time.Time) corev1.PodStatus {
	status := *pod.Status.DeepCopy()
	started := metav1.NewTime(st.StartedAt).Rfc3339Copy()
	status.Phase = corev1.PodRunning
	status.Reason, status.Message = "", ""
	status.ObservedGeneration = pod.Generation
	status.HostIP, status.HostIPs = st.HostIP, []corev1.HostIP{{IP: st.HostIP}}
	status.PodIP, status.PodIPs = st.IP, []corev1.PodIP{{IP: st.IP}}
	status.StartTime = &started
	status.InitContainerStatuses = initContainerStatuses(pod, started)
	ready := st.Ready && !slices.ContainsFunc(pod.Spec.Containers, st.waiting)
	status.ContainerStatuses = runningContainerStatuses(pod, st, started, ready)
	transition := metav1.NewTime(now).Rfc3339Copy()
	for _, c := range []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue},
		{Type: corev1.ContainersReady, Status: conditionStatus(ready)},
		{Type: corev1.PodReady, Status: conditionStatus(ready)},
	} {
		c.ObservedGeneration = pod.Generation
		c.LastTransitionTime = transition
		status.Conditions = setCondition(status.Conditions, c)
	}
	return status
}

// initContainerStatuses reports the pod's init containers completed when the pod started.
func initContainerStatuses(pod *corev1.Pod, started metav1.Time) []corev1.ContainerStatus {
	return containerStatuses(pod.UID, pod.Spec.InitContainers, func(s *corev1.ContainerStatus) {
		s.State.Terminated = &corev1.ContainerStateTerminated{Reason: "Completed", StartedAt: started, FinishedAt: started}
		s.Ready = true
	})
}

// waiting reports whether container c is waiting to run.
func (st PodState) waiting(c corev1.Container) bool {
	return st.Containers[c.Name].Waiting != ""
}

// runningContainerStatuses reports the pod's containers as st has them, running since the pod
// started unless st says otherwise.
func runningContainerStatuses(pod *corev1.Pod, st PodState, started metav1.Time, ready bool) []corev1.ContainerStatus {
	return containerStatuses(pod.UID, pod.Spec.Containers, func(s *corev1.ContainerStatus) {
		cs := st.Containers[s.Name]
		s.RestartCount = cs.RestartCount
		s.Ready = ready
		s.LastTerminationState.Terminated = truncatedTermination(cs.LastTermination)
		if cs.Waiting != "" {
			s.State.Waiting = &corev1.ContainerStateWaiting{Reason: cs.Waiting}
			return
		}
		s.State.Running = &corev1.ContainerStateRunning{StartedAt: started}
		if !cs.StartedAt.IsZero() {
			s.State.Running.StartedAt = metav1.NewTime(cs.StartedAt).Rfc3339Copy()
		}
	})
}

// containerStatuses returns the statuses of containers, which set completes.
func containerStatuses(podUID types.UID, containers []corev1.Container, set func(*corev1.ContainerStatus)) []corev1.ContainerStatus {
	if len(containers) == 0 {
		return nil
	}
	statuses := make([]corev1.ContainerStatus, 0, len(containers))
	for _, c := range containers {
		s := corev1.ContainerStatus{
			Name:        c.Name,
			Image:       c.Image,
			ImageID:     imageID(c.Image),
			ContainerID: fmt.Sprintf("%s://%s-%s", runtimeName, podUID, c.Name),
		}
		set(&s)
		s.Started = ptr.To(s.State.Running != nil)
		statuses = append(statuses, s)
	}
	return statuses
}

// truncatedTermination returns a copy of t with its times truncated to seconds, as the API
// stores them.
func truncatedTermination(t *corev1.ContainerStateTerminated) *corev1.ContainerStateTerminated {
	if t == nil {
		return nil
	}
	c := *t
	c.StartedAt, c.FinishedAt = t.StartedAt.Rfc3339Copy(), t.FinishedAt.Rfc3339Copy()
	return &c
}

// imageID returns a digest reference for image, as a container runtime reports after a pull.
func imageID(image string) string {
	return fmt.Sprintf("%s@sha256:%x", image, sha256.Sum256([]byte(image)))
}

func conditionStatus(ok bool) corev1.ConditionStatus {
	if ok {
		return corev1.ConditionTrue
	}
	return corev1.ConditionFalse
}

// setCondition puts c into conditions, keeping the lastTransitionTime of an existing condition
// of its type whose status is unchanged.
func setCondition(conditions []corev1.PodCondition, c corev1.PodCondition) []corev1.PodCondition {
	for i, old := range conditions {
		if old.Type != c.Type {
			continue
		}
		if old.Status == c.Status {
			c.LastTransitionTime = old.LastTransitionTime
		}
		conditions[i] = c
		return conditions
	}
	return append(conditions, c)
}

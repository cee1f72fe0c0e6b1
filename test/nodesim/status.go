package nodesim

import (
	"crypto/sha256"
	"fmt"
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
}

// BuildStatus returns the status a kubelet would report for pod in state st: phase Running, the
// IPs, completed init containers, running containers and the PodScheduled, Initialized,
// ContainersReady and Ready conditions. Fields the simulator does not manage (e.g. qosClass, other
// conditions) are kept; a condition's lastTransitionTime becomes now only when its status changes.
// Times are truncated to seconds, as the API stores them, so an unchanged pod yields an equal status.
func BuildStatus(pod *corev1.Pod, st PodState, now time.Time) corev1.PodStatus {
	status := *pod.Status.DeepCopy()
	started := metav1.NewTime(st.StartedAt).Rfc3339Copy()
	status.Phase = corev1.PodRunning
	status.Reason, status.Message = "", ""
	status.ObservedGeneration = pod.Generation
	status.HostIP, status.HostIPs = st.HostIP, []corev1.HostIP{{IP: st.HostIP}}
	status.PodIP, status.PodIPs = st.IP, []corev1.PodIP{{IP: st.IP}}
	status.StartTime = &started
	status.InitContainerStatuses = containerStatuses(pod.UID, pod.Spec.InitContainers, completedState(started), true)
	status.ContainerStatuses = containerStatuses(pod.UID, pod.Spec.Containers, runningState(started), st.Ready)
	transition := metav1.NewTime(now).Rfc3339Copy()
	for _, c := range []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue},
		{Type: corev1.ContainersReady, Status: conditionStatus(st.Ready)},
		{Type: corev1.PodReady, Status: conditionStatus(st.Ready)},
	} {
		c.ObservedGeneration = pod.Generation
		c.LastTransitionTime = transition
		status.Conditions = setCondition(status.Conditions, c)
	}
	return status
}

func containerStatuses(podUID types.UID, containers []corev1.Container, state corev1.ContainerState, ready bool) []corev1.ContainerStatus {
	if len(containers) == 0 {
		return nil
	}
	statuses := make([]corev1.ContainerStatus, 0, len(containers))
	for _, c := range containers {
		statuses = append(statuses, corev1.ContainerStatus{
			Name:        c.Name,
			Image:       c.Image,
			ImageID:     imageID(c.Image),
			ContainerID: fmt.Sprintf("%s://%s-%s", runtimeName, podUID, c.Name),
			State:       state,
			Ready:       ready,
			Started:     ptr.To(state.Running != nil),
		})
	}
	return statuses
}

func runningState(started metav1.Time) corev1.ContainerState {
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}
}

func completedState(at metav1.Time) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		Reason: "Completed", StartedAt: at, FinishedAt: at,
	}}
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

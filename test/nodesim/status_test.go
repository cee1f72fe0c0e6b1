package nodesim

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.UTC)

func scheduledPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "chat-0", Namespace: "default", UID: "uid-1", Generation: 3},
		Spec: corev1.PodSpec{
			NodeName:       "nodesim",
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox:1"}},
			Containers:     []corev1.Container{{Name: "app", Image: "chat:v2"}, {Name: "sidecar", Image: "proxy:v1"}},
		},
		Status: corev1.PodStatus{
			Phase:    corev1.PodPending,
			QOSClass: corev1.PodQOSBestEffort,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0.Add(-time.Hour))},
				{Type: "example.com/gate", Status: corev1.ConditionTrue},
			},
		},
	}
}

func condition(status corev1.PodStatus, t corev1.PodConditionType) corev1.PodCondition {
	for _, c := range status.Conditions {
		if c.Type == t {
			return c
		}
	}
	return corev1.PodCondition{}
}

func TestBuildStatusReportsARunningReadyPod(t *testing.T) {
	g := NewWithT(t)
	started := t0.Add(-time.Minute)
	status := BuildStatus(scheduledPod(), PodState{IP: "127.1.0.9", HostIP: HostIP, StartedAt: started, Ready: true}, t0)

	g.Expect(status.Phase).To(Equal(corev1.PodRunning))
	g.Expect(status.QOSClass).To(Equal(corev1.PodQOSBestEffort), "kept")
	g.Expect(status.ObservedGeneration).To(Equal(int64(3)))
	g.Expect(status.PodIP).To(Equal("127.1.0.9"))
	g.Expect(status.PodIPs).To(Equal([]corev1.PodIP{{IP: "127.1.0.9"}}))
	g.Expect(status.HostIP).To(Equal(HostIP))
	g.Expect(status.HostIPs).To(Equal([]corev1.HostIP{{IP: HostIP}}))
	g.Expect(status.StartTime.Time).To(Equal(started.Truncate(time.Second)))
	for _, typ := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady, "example.com/gate"} {
		g.Expect(condition(status, typ).Status).To(Equal(corev1.ConditionTrue), string(typ))
	}
	g.Expect(condition(status, corev1.PodScheduled).LastTransitionTime.Time).To(Equal(t0.Add(-time.Hour)), "unchanged status keeps its time")
	g.Expect(condition(status, corev1.PodReady).LastTransitionTime.Time).To(Equal(t0.Truncate(time.Second)))
	g.Expect(condition(status, corev1.PodReady).ObservedGeneration).To(Equal(int64(3)))

	g.Expect(status.ContainerStatuses).To(HaveLen(2))
	app := status.ContainerStatuses[0]
	g.Expect(app.Name).To(Equal("app"))
	g.Expect(app.Image).To(Equal("chat:v2"))
	g.Expect(app.ImageID).To(MatchRegexp(`^chat:v2@sha256:[0-9a-f]{64}$`))
	g.Expect(app.ContainerID).To(Equal("nodesim://uid-1-app"))
	g.Expect(app.Ready).To(BeTrue())
	g.Expect(app.Started).To(Equal(ptr.To(true)))
	g.Expect(app.State.Running).NotTo(BeNil())
	g.Expect(status.ContainerStatuses[1].Name).To(Equal("sidecar"))

	g.Expect(status.InitContainerStatuses).To(HaveLen(1))
	g.Expect(status.InitContainerStatuses[0].State.Terminated).To(HaveField("Reason", "Completed"))
	g.Expect(status.InitContainerStatuses[0].Started).To(Equal(ptr.To(false)))
}

func TestBuildStatusReportsANotReadyPod(t *testing.T) {
	g := NewWithT(t)
	status := BuildStatus(scheduledPod(), PodState{IP: "127.1.0.9", HostIP: HostIP, StartedAt: t0, Ready: false}, t0)
	g.Expect(status.Phase).To(Equal(corev1.PodRunning))
	g.Expect(condition(status, corev1.ContainersReady).Status).To(Equal(corev1.ConditionFalse))
	g.Expect(condition(status, corev1.PodReady).Status).To(Equal(corev1.ConditionFalse))
	g.Expect(condition(status, corev1.PodInitialized).Status).To(Equal(corev1.ConditionTrue))
	for _, c := range status.ContainerStatuses {
		g.Expect(c.Ready).To(BeFalse(), c.Name)
		g.Expect(c.State.Running).NotTo(BeNil(), c.Name)
	}
}

func TestBuildStatusIsStableAndTracksTransitions(t *testing.T) {
	g := NewWithT(t)
	pod := scheduledPod()
	st := PodState{IP: "127.1.0.9", HostIP: HostIP, StartedAt: t0, Ready: true}
	pod.Status = BuildStatus(pod, st, t0)

	later := t0.Add(5 * time.Second)
	g.Expect(apiequality.Semantic.DeepEqual(BuildStatus(pod, st, later), pod.Status)).To(BeTrue(), "nothing to update")

	st.Ready = false
	notReady := BuildStatus(pod, st, later)
	g.Expect(condition(notReady, corev1.PodReady).LastTransitionTime.Time).To(Equal(later.Truncate(time.Second)))
	g.Expect(condition(notReady, corev1.PodInitialized).LastTransitionTime.Time).To(Equal(t0.Truncate(time.Second)))
	g.Expect(condition(pod.Status, corev1.PodReady).Status).To(Equal(corev1.ConditionTrue), "the pod is not modified")
}

func TestBuildStatusReportsRestartsFromTheRuntime(t *testing.T) {
	g := NewWithT(t)
	pod := scheduledPod()
	exited := &corev1.ContainerStateTerminated{
		ExitCode: 137, Signal: 9, Reason: "Error",
		StartedAt: metav1.NewTime(t0.Add(-time.Minute)), FinishedAt: metav1.NewTime(t0.Add(-time.Second)),
	}
	st := PodState{IP: "127.1.0.9", HostIP: HostIP, StartedAt: t0.Add(-time.Hour), Ready: true, Containers: map[string]ContainerStatus{
		"app": {RestartCount: 2, StartedAt: t0, LastTermination: exited},
	}}

	status := BuildStatus(pod, st, t0)
	app, sidecar := status.ContainerStatuses[0], status.ContainerStatuses[1]
	g.Expect(app.RestartCount).To(Equal(int32(2)))
	g.Expect(app.State.Running.StartedAt.Time).To(Equal(t0.Truncate(time.Second)), "the running instance's start")
	g.Expect(app.LastTerminationState.Terminated).To(HaveField("ExitCode", int32(137)))
	g.Expect(app.LastTerminationState.Terminated.FinishedAt.Time).To(Equal(t0.Add(-time.Second).Truncate(time.Second)))
	g.Expect(exited.FinishedAt.Time).To(Equal(t0.Add(-time.Second)), "the runtime's state is not modified")
	g.Expect(sidecar.RestartCount).To(BeZero(), "not reported: running since the pod started")
	g.Expect(sidecar.State.Running.StartedAt.Time).To(Equal(t0.Add(-time.Hour).Truncate(time.Second)))
	g.Expect(condition(status, corev1.PodReady).Status).To(Equal(corev1.ConditionTrue))

	st.Containers["app"] = ContainerStatus{RestartCount: 2, Waiting: "CrashLoopBackOff", LastTermination: exited}
	status = BuildStatus(pod, st, t0)
	app = status.ContainerStatuses[0]
	g.Expect(app.State.Running).To(BeNil())
	g.Expect(app.State.Waiting).To(HaveField("Reason", "CrashLoopBackOff"))
	g.Expect(app.Started).To(Equal(ptr.To(false)))
	g.Expect(app.Ready).To(BeFalse())
	g.Expect(status.ContainerStatuses[1].Ready).To(BeFalse())
	g.Expect(condition(status, corev1.ContainersReady).Status).To(Equal(corev1.ConditionFalse), "a waiting container makes the pod not ready")
	g.Expect(condition(status, corev1.PodReady).Status).To(Equal(corev1.ConditionFalse))
	g.Expect(status.Phase).To(Equal(corev1.PodRunning))
}

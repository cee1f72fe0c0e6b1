package nodesim_test

import (
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/stablering/stablering/test/nodesim"
)

var _ = Describe("A StatefulSet whose image runs as a process", func() {
	var namespace string

	BeforeEach(func(ctx SpecContext) {
		namespace = createNamespace(ctx)
	})

	It("runs each pod's process on the pod's IP, the pod turning ready once it serves /readyz", func(ctx SpecContext) {
		createStatefulSet(ctx, namespace, appsv1.ParallelPodManagement, nodesim.EchoContainer("--ready-after=1s"))

		By("reporting the pod not ready while its process answers /readyz with 503")
		Eventually(func(g Gomega) {
			ip := getPod(ctx, g, namespace, "chat-0").Status.PodIP
			g.Expect(ip).NotTo(BeEmpty())
			g.Expect(nodesim.GetEcho(ctx, ip, "/readyz")).To(Equal(503))
			g.Expect(isReady(getPod(ctx, g, namespace, "chat-0"))).To(BeFalse())
		}).WithContext(ctx).Should(Succeed())

		By("reaching, at each pod's IP, a process with the pod's environment and arguments")
		for _, pod := range readyPods(ctx, namespace) {
			info := echoInfo(ctx, pod)
			Expect(info.Env).To(HaveKeyWithValue("POD_NAME", pod.Name))
			Expect(info.Args).To(ContainElement(fmt.Sprintf("--listen=%s:%d", pod.Status.PodIP, nodesim.EchoPort)))
			Expect(impersonatedUser(info.Env["KUBECONFIG"])).To(Equal("system:serviceaccount:" + namespace + ":default"))
		}
	}, SpecTimeout(time.Minute))

	It("sends SIGTERM to a deleted pod's process and runs a new process for the recreated pod", func(ctx SpecContext) {
		createStatefulSet(ctx, namespace, appsv1.ParallelPodManagement, nodesim.EchoContainer("--shutdown-delay=200ms"))
		before := readyPods(ctx, namespace)
		old := before[1]
		oldInfo := echoInfo(ctx, old)
		Expect(clients.CoreV1().Pods(namespace).Delete(ctx, old.Name, metav1.DeleteOptions{})).To(Succeed())

		By("the process logging SIGTERM and exiting")
		log := processes.LogPath(namespace, old.Name, "echo")
		Eventually(func() (string, error) {
			data, err := os.ReadFile(log)
			return string(data), err
		}).WithContext(ctx).Should(ContainSubstring("received SIGTERM\nexiting\n"))

		By("the recreated pod running a new process on a new IP")
		recreated := recreatedPod(ctx, namespace, old)
		for _, pod := range before {
			Expect(recreated.Status.PodIP).NotTo(Equal(pod.Status.PodIP))
		}
		info := echoInfo(ctx, *recreated)
		Expect(info.PID).NotTo(Equal(oldInfo.PID))
		Expect(info.Env).To(HaveKeyWithValue("POD_NAME", old.Name))
		Expect(nodesim.GetEcho(ctx, old.Status.PodIP, "/")).Error().To(HaveOccurred(), "the old process is gone")
		Expect(os.ReadFile(log)).To(WithTransform(func(b []byte) int { return strings.Count(string(b), "serving on") }, Equal(2)),
			"the log is appended to")
	}, SpecTimeout(time.Minute))

	It("serves the process's output to `kubectl logs` through the API server", func(ctx SpecContext) {
		createStatefulSet(ctx, namespace, appsv1.ParallelPodManagement, nodesim.EchoContainer())
		pod := readyPods(ctx, namespace)[0]
		logs := func(opts *corev1.PodLogOptions) (string, error) {
			data, err := clients.CoreV1().Pods(namespace).GetLogs(pod.Name, opts).DoRaw(ctx)
			return string(data), err
		}
		Eventually(logs).WithContext(ctx).WithArguments(&corev1.PodLogOptions{Container: "echo"}).
			Should(ContainSubstring("serving on"))
		Expect(logs(&corev1.PodLogOptions{Container: "echo", TailLines: ptrTo[int64](1)})).
			To(HaveSuffix("\n"), "the last line, whole")
		Expect(logs(&corev1.PodLogOptions{Container: "echo", LimitBytes: ptrTo[int64](3)})).To(HaveLen(3))
		answer, err := logs(&corev1.PodLogOptions{Container: "echo", Previous: true})
		Expect(err).To(HaveOccurred())
		Expect(answer).To(ContainSubstring("without --previous"))

		By("following the log until the pod's process has exited")
		stream, err := clients.CoreV1().Pods(namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: "echo", Follow: true}).Stream(ctx)
		Expect(err).NotTo(HaveOccurred())
		defer stream.Close()
		followed := make(chan string, 1)
		go func() {
			data, _ := io.ReadAll(stream)
			followed <- string(data)
		}()
		Expect(clients.CoreV1().Pods(namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{})).To(Succeed())
		Eventually(followed).WithContext(ctx).WithTimeout(20 * time.Second).Should(Receive(ContainSubstring("exiting")))
	}, SpecTimeout(time.Minute))

	It("restarts a killed process, the pod turning not ready until the new process is ready", func(ctx SpecContext) {
		createStatefulSet(ctx, namespace, appsv1.ParallelPodManagement, nodesim.EchoContainer("--ready-after=1s"))
		pod := readyPods(ctx, namespace)[2]
		before := echoInfo(ctx, pod)
		Expect(syscall.Kill(before.PID, syscall.SIGKILL)).To(Succeed())

		By("reporting the pod not ready, with the restart and how the process ended")
		Eventually(func(g Gomega) {
			restarted := getPod(ctx, g, namespace, pod.Name)
			g.Expect(isReady(restarted)).To(BeFalse())
			g.Expect(restarted.Status.ContainerStatuses).To(ConsistOf(And(
				HaveField("RestartCount", int32(1)),
				HaveField("State.Running", Not(BeNil())),
				HaveField("LastTerminationState.Terminated.ExitCode", int32(137)),
			)))
			g.Expect(getStatefulSet(ctx, g, namespace).Status.ReadyReplicas).To(BeEquivalentTo(replicas - 1))
		}).WithContext(ctx).Should(Succeed())

		By("reporting it ready again once the new process serves /readyz")
		after := readyPods(ctx, namespace)[2]
		Expect(after.UID).To(Equal(pod.UID))
		Expect(after.Status.ContainerStatuses[0].RestartCount).To(BeEquivalentTo(1))
		Expect(echoInfo(ctx, after).PID).NotTo(Equal(before.PID))
	}, SpecTimeout(time.Minute))
})

func echoInfo(ctx SpecContext, pod corev1.Pod) nodesim.EchoInfo {
	GinkgoHelper()
	info, err := nodesim.GetEchoInfo(ctx, pod.Status.PodIP)
	Expect(err).NotTo(HaveOccurred())
	return info
}

// recreatedPod waits until the pod named as old is recreated and ready, and returns it.
func recreatedPod(ctx SpecContext, namespace string, old corev1.Pod) *corev1.Pod {
	GinkgoHelper()
	var pod *corev1.Pod
	Eventually(func(g Gomega) {
		pod = getPod(ctx, g, namespace, old.Name)
		g.Expect(pod.UID).NotTo(Equal(old.UID))
		g.Expect(isReady(pod)).To(BeTrue())
	}).WithContext(ctx).Should(Succeed())
	return pod
}

// impersonatedUser returns whom the kubeconfig at path acts as.
func impersonatedUser(path string) string {
	GinkgoHelper()
	cfg, err := clientcmd.LoadFromFile(path)
	Expect(err).NotTo(HaveOccurred())
	return cfg.AuthInfos[cfg.Contexts[cfg.CurrentContext].AuthInfo].Impersonate
}

func ptrTo[T any](v T) *T { return &v }

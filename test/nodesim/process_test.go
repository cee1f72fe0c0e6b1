package nodesim

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// newTestRuntime returns a ProcessRuntime that runs EchoImage, logging to a temporary directory.
func newTestRuntime(t *testing.T, opts ProcessOptions) *ProcessRuntime {
	t.Helper()
	opts.Images = map[string]string{EchoImage: echoServer}
	opts.LogDir = t.TempDir()
	opts.RestartBackoff = 500 * time.Millisecond
	opts.Log = testr.New(t)
	r, err := NewProcessRuntime(opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func testPod(name string, containers ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name + "-uid")},
		Spec:       corev1.PodSpec{NodeName: "nodesim", Containers: containers},
	}
}

// start starts pod at ip, stopping it at the end of the test at the latest.
func start(t *testing.T, r *ProcessRuntime, pod *corev1.Pod, ip string) {
	t.Helper()
	if err := r.Start(t.Context(), pod, ip); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop(context.Background(), pod, 0) })
}

// readyInfo waits until the echoserver pod at ip is ready and returns what it says about itself.
func readyInfo(t *testing.T, r *ProcessRuntime, pod *corev1.Pod, ip string) EchoInfo {
	t.Helper()
	g := NewWithT(t)
	g.Eventually(func() bool { return r.Ready(t.Context(), pod, ip) }).WithTimeout(10 * time.Second).Should(BeTrue())
	info, err := GetEchoInfo(t.Context(), ip)
	g.Expect(err).NotTo(HaveOccurred())
	return info
}

func logOf(t *testing.T, r *ProcessRuntime, pod *corev1.Pod) string {
	t.Helper()
	data, err := os.ReadFile(r.LogPath(pod.Namespace, pod.Name, "echo"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestProcessRuntimeRunsAContainerAsAProcessAndStopsItGracefully(t *testing.T) {
	g := NewWithT(t)
	r := newTestRuntime(t, ProcessOptions{Kubeconfig: "/kube/config"})
	echo := EchoContainer("--shutdown-delay=300ms", "$$(POD_IP)")
	echo.Command = []string{"/echoserver", "--ready-after=$(DELAY)"}
	echo.Env = append(echo.Env, corev1.EnvVar{Name: "DELAY", Value: "100ms"})
	echo.ReadinessProbe.InitialDelaySeconds = 1
	pod := testPod("echo-0", echo, corev1.Container{Name: "sidecar", Image: "example.com/other:v1"})
	const ip = "127.77.0.1"
	begin := time.Now()
	start(t, r, pod, ip)

	info := readyInfo(t, r, pod, ip)
	g.Expect(time.Since(begin)).To(BeNumerically(">=", time.Second), "not probed before the initial delay")
	g.Expect(info.Args).To(Equal([]string{"--ready-after=100ms", "--listen=127.77.0.1:8080", "--shutdown-delay=300ms", "$(POD_IP)"}),
		"the entrypoint is replaced; references are expanded, escaped ones unescaped")
	home := info.Env["HOME"]
	g.Expect(info.Env).To(Equal(map[string]string{
		"PATH": os.Getenv("PATH"), "HOME": home, "KUBECONFIG": "/kube/config",
		"POD_IP": ip, "POD_NAME": "echo-0", "DELAY": "100ms",
	}))
	g.Expect(home).To(BeADirectory())
	g.Expect(r.Containers(pod)).To(HaveKeyWithValue("echo", And(
		HaveField("RestartCount", BeZero()), HaveField("Waiting", BeEmpty()), HaveField("StartedAt", Not(BeZero())),
	)))
	g.Expect(r.Containers(pod)).To(HaveLen(1), "the sidecar's image is unknown: it runs nothing")

	begin = time.Now()
	g.Expect(r.Stop(t.Context(), pod, time.Minute)).To(Succeed())
	g.Expect(time.Since(begin)).To(BeNumerically("<", 30*time.Second), "exits on its own, well within the grace period")
	g.Expect(logOf(t, r, pod)).To(ContainSubstring("received SIGTERM\nexiting\n"))
	g.Expect(processesOf(echoServer)).To(BeEmpty())
	g.Expect(home).NotTo(BeAnExistingFile(), "the working directory is removed")
}

func TestProcessRuntimeKillsAProcessThatIgnoresSIGTERMAfterTheGracePeriod(t *testing.T) {
	g := NewWithT(t)
	r := newTestRuntime(t, ProcessOptions{})
	pod := testPod("echo-1", EchoContainer("--ignore-sigterm"))
	start(t, r, pod, "127.77.0.2")
	readyInfo(t, r, pod, "127.77.0.2")

	begin := time.Now()
	g.Expect(r.Stop(t.Context(), pod, 500*time.Millisecond)).To(Succeed())
	g.Expect(time.Since(begin)).To(BeNumerically(">=", 500*time.Millisecond), "the grace period")
	g.Expect(logOf(t, r, pod)).To(ContainSubstring("received SIGTERM"))
	g.Expect(logOf(t, r, pod)).NotTo(ContainSubstring("exiting"), "killed")
	g.Expect(processesOf(echoServer)).To(BeEmpty())
}

func TestProcessRuntimeKillsAtOnceWhenTheContextEnds(t *testing.T) {
	g := NewWithT(t)
	r := newTestRuntime(t, ProcessOptions{})
	pod := testPod("echo-2", EchoContainer("--ignore-sigterm"))
	start(t, r, pod, "127.77.0.3")
	readyInfo(t, r, pod, "127.77.0.3")

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	begin := time.Now()
	g.Expect(r.Stop(ctx, pod, time.Minute)).To(Succeed())
	g.Expect(time.Since(begin)).To(BeNumerically("<", 30*time.Second), "well within the grace period")
	g.Expect(processesOf(echoServer)).To(BeEmpty())
}

func TestProcessRuntimeRestartsAnExitedProcess(t *testing.T) {
	g := NewWithT(t)
	r := newTestRuntime(t, ProcessOptions{})
	pod := testPod("echo-3", EchoContainer("--ready-after=500ms")) // not ready right after a restart
	const ip = "127.77.0.4"
	start(t, r, pod, ip)
	before := readyInfo(t, r, pod, ip)

	g.Expect(syscall.Kill(before.PID, syscall.SIGKILL)).To(Succeed())
	g.Eventually(func() ContainerStatus { return r.Containers(pod)["echo"] }).Should(And(
		HaveField("Waiting", crashLoopBackOff),
		HaveField("LastTermination", And(
			HaveField("ExitCode", int32(137)), HaveField("Signal", int32(9)), HaveField("Reason", "Error"),
		)),
	))
	g.Expect(r.Ready(t.Context(), pod, ip)).To(BeFalse())

	after := readyInfo(t, r, pod, ip)
	g.Expect(after.PID).NotTo(Equal(before.PID))
	g.Expect(r.Containers(pod)["echo"]).To(And(
		HaveField("RestartCount", int32(1)), HaveField("Waiting", BeEmpty()), HaveField("LastTermination.ExitCode", int32(137)),
	))
}

func TestProcessRuntimeFailsToStartAPodItCannotConfigure(t *testing.T) {
	g := NewWithT(t)
	r := newTestRuntime(t, ProcessOptions{})
	bad := EchoContainer()
	bad.Name = "bad"
	bad.Env = append(bad.Env, corev1.EnvVar{Name: "TOKEN", ValueFrom: secretKey("creds", "token")})
	pod := testPod("echo-4", EchoContainer(), bad)

	err := r.Start(t.Context(), pod, "127.77.0.5")
	g.Expect(err).To(MatchError(ContainSubstring("container bad: env TOKEN: no API client")))
	g.Expect(r.Containers(pod)).To(BeNil())
	g.Expect(processesOf(echoServer)).To(BeEmpty(), "the first container was stopped")
}

func TestProcessRuntimeDoesNotRunExecProbes(t *testing.T) {
	g := NewWithT(t)
	r := newTestRuntime(t, ProcessOptions{})
	echo := EchoContainer("--ready-after=1h")
	echo.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"false"}}}}
	pod := testPod("echo-5", echo)
	start(t, r, pod, "127.77.0.6")
	g.Expect(r.Ready(t.Context(), pod, "127.77.0.6")).To(BeTrue(), "ready while the process runs")
	g.Eventually(func() (int, error) { return GetEcho(t.Context(), "127.77.0.6", "/readyz") }).Should(Equal(503))
}

func TestProcessRuntimeRunsPodsOfOtherImagesLikeIdleRuntime(t *testing.T) {
	g := NewWithT(t)
	r := newTestRuntime(t, ProcessOptions{})
	pod := testPod("other", corev1.Container{Name: "app", Image: "example.com/other:v1"})
	g.Expect(r.Start(t.Context(), pod, "127.77.0.7")).To(Succeed())
	g.Expect(r.Ready(t.Context(), pod, "127.77.0.7")).To(BeTrue())
	g.Expect(r.Containers(pod)).To(BeNil())
	begin := time.Now()
	g.Expect(r.Stop(t.Context(), pod, 200*time.Millisecond)).To(Succeed())
	g.Expect(time.Since(begin)).To(BeNumerically(">=", 200*time.Millisecond), "takes its grace period")
}

func TestKubeconfigComesFromThePodsServiceAccount(t *testing.T) {
	g := NewWithT(t)
	r := newTestRuntime(t, ProcessOptions{
		Kubeconfig: "/admin",
		ServiceAccountKubeconfig: func(namespace, serviceAccount string) (string, error) {
			return "/" + namespace + "/" + serviceAccount, nil
		},
	})
	pod := testPod("p")
	g.Expect(r.kubeconfig(pod)).To(Equal("/ns/default"), "the default service account")
	pod.Spec.ServiceAccountName = "robot"
	g.Expect(r.kubeconfig(pod)).To(Equal("/ns/robot"))
	pod.Spec.AutomountServiceAccountToken = ptr.To(false)
	g.Expect(r.kubeconfig(pod)).To(BeEmpty(), "opted out")

	r.opts.ServiceAccountKubeconfig = nil
	pod.Spec.AutomountServiceAccountToken = nil
	g.Expect(r.kubeconfig(pod)).To(Equal("/admin"))
}

func TestImagesMatchByReferenceThenByRepository(t *testing.T) {
	g := NewWithT(t)
	r, err := NewProcessRuntime(ProcessOptions{LogDir: t.TempDir(), Images: map[string]string{
		"stablering/chat:dev":    "/bin/chat",
		"localhost:5000/gateway": "/bin/gateway",
		"stablering/manager:v1":  "/bin/manager-v1",
		"stablering/manager:v2":  "/bin/manager-v2",
	}})
	g.Expect(err).NotTo(HaveOccurred())
	for image, want := range map[string]string{
		"stablering/chat:dev":           "/bin/chat",
		"stablering/chat:v2":            "/bin/chat",
		"stablering/chat@sha256:0123":   "/bin/chat",
		"stablering/chat:v2@sha256:012": "/bin/chat",
		"localhost:5000/gateway:v1":     "/bin/gateway",
		"localhost:5000/gateway":        "/bin/gateway",
		"stablering/manager:v1":         "/bin/manager-v1",
		"stablering/manager:v2":         "/bin/manager-v2",
		"stablering/manager:v3":         "", // ambiguous
		"stablering/chatty:dev":         "",
		"localhost:5000/gateways":       "",
	} {
		exe, _ := r.executable(image)
		g.Expect(exe).To(Equal(want), image)
	}
}

func TestNextBackoffDoublesUpToALimitAndResetsAfterALongRun(t *testing.T) {
	g := NewWithT(t)
	first := time.Second
	g.Expect(nextBackoff(0, 0, first)).To(Equal(first))
	g.Expect(nextBackoff(first, time.Second, first)).To(Equal(2 * first))
	g.Expect(nextBackoff(20*first, time.Second, first)).To(Equal(32*first), "capped")
	g.Expect(nextBackoff(32*first, 33*first, first)).To(Equal(first), "reset after a run longer than the longest delay")
}

func TestProcessRuntimeExplainsAnAddressInUse(t *testing.T) {
	g := NewWithT(t)
	r := newTestRuntime(t, ProcessOptions{})
	const ip = "127.77.0.11"
	first := testPod("echo-first", EchoContainer())
	start(t, r, first, ip)
	readyInfo(t, r, first, ip)

	// A second pod whose server listens on the first one's address, as servers listening on all
	// addresses do.
	second := testPod("echo-second", EchoContainer(fmt.Sprintf("--listen=%s:%d", ip, EchoPort)))
	start(t, r, second, "127.77.0.12")
	g.Eventually(func() ContainerStatus { return r.Containers(second)["echo"] }).WithTimeout(10 * time.Second).Should(
		HaveField("LastTermination.Message", And(ContainSubstring("address already in use"), ContainSubstring("$(POD_IP)"))))
}

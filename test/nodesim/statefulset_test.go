package nodesim_test

import (
	"fmt"
	"net/netip"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

const replicas = 3

var _ = Describe("A StatefulSet on the simulated node", func() {
	var namespace string

	BeforeEach(func(ctx SpecContext) {
		namespace = createNamespace(ctx)
	})

	DescribeTable("gets its pods running and ready, with distinct loopback IPs",
		func(ctx SpecContext, policy appsv1.PodManagementPolicyType) {
			createStatefulSet(ctx, namespace, policy, idleContainer)
			pods := readyPods(ctx, namespace)
			podCIDR := netip.MustParsePrefix(sim.PodCIDR())
			ips := map[string]bool{}
			for _, pod := range pods {
				Expect(pod.Spec.NodeName).To(Equal(sim.NodeName()))
				Expect(podCIDR.Contains(netip.MustParseAddr(pod.Status.PodIP))).To(BeTrue(), pod.Status.PodIP)
				ips[pod.Status.PodIP] = true
			}
			Expect(ips).To(HaveLen(replicas))
		},
		Entry("with Parallel pod management", appsv1.ParallelPodManagement),
		Entry("with OrderedReady pod management", appsv1.OrderedReadyPodManagement),
	)

	It("does not rewrite the status of a settled pod", func(ctx SpecContext) {
		createStatefulSet(ctx, namespace, appsv1.ParallelPodManagement, idleContainer)
		pod := readyPods(ctx, namespace)[0]
		Consistently(func(g Gomega) string {
			return getPod(ctx, g, namespace, pod.Name).ResourceVersion
		}).WithContext(ctx).WithTimeout(time.Second).Should(Equal(pod.ResourceVersion))
	}, SpecTimeout(time.Minute))

	When("a pod is deleted", func() {
		It("turns it not ready at once, and the recreated pod becomes ready with a new IP", func(ctx SpecContext) {
			createStatefulSet(ctx, namespace, appsv1.ParallelPodManagement, idleContainer)
			before := readyPods(ctx, namespace)
			old := before[1]
			Expect(clients.CoreV1().Pods(namespace).Delete(ctx, old.Name, metav1.DeleteOptions{})).To(Succeed())

			By("reporting the terminating pod not ready during its grace period")
			Eventually(func(g Gomega) {
				pod := getPod(ctx, g, namespace, old.Name)
				g.Expect(pod.UID).To(Equal(old.UID))
				g.Expect(pod.DeletionTimestamp).NotTo(BeNil())
				g.Expect(isReady(pod)).To(BeFalse())
			}).WithContext(ctx).Should(Succeed())

			By("the StatefulSet controller recreating it once it is gone")
			after := readyPods(ctx, namespace)
			Expect(after[1].UID).NotTo(Equal(old.UID))
			for _, pod := range before {
				Expect(after[1].Status.PodIP).NotTo(Equal(pod.Status.PodIP))
			}
		}, SpecTimeout(time.Minute))
	})

	When("a pod is marked not ready", func() {
		It("reports it not ready until it is marked ready again", func(ctx SpecContext) {
			createStatefulSet(ctx, namespace, appsv1.ParallelPodManagement, idleContainer)
			pod := readyPods(ctx, namespace)[2]

			Expect(sim.SetReady(namespace, pod.Name, false)).To(Succeed())
			Eventually(func(g Gomega) {
				g.Expect(isReady(getPod(ctx, g, namespace, pod.Name))).To(BeFalse())
				g.Expect(getStatefulSet(ctx, g, namespace).Status.ReadyReplicas).To(BeEquivalentTo(replicas - 1))
			}).WithContext(ctx).Should(Succeed())

			Expect(sim.SetReady(namespace, pod.Name, true)).To(Succeed())
			Expect(readyPods(ctx, namespace)[2].UID).To(Equal(pod.UID))
		}, SpecTimeout(time.Minute))
	})
})

// idleContainer runs nothing: its image is not the echoserver's.
var idleContainer = corev1.Container{Name: "chat", Image: "example.com/chat:v1"}

func createNamespace(ctx SpecContext) string {
	ns, err := clients.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "nodesim-"},
	}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	return ns.Name
}

// createStatefulSet creates the StatefulSet chat of replicas pods of container.
func createStatefulSet(ctx SpecContext, namespace string, policy appsv1.PodManagementPolicyType, container corev1.Container) {
	labels := map[string]string{"app": "chat"}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "chat", Namespace: namespace},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To[int32](replicas),
			ServiceName:         "chat",
			PodManagementPolicy: policy,
			Selector:            &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](1),
					Containers:                    []corev1.Container{container},
				},
			},
		},
	}
	_, err := clients.AppsV1().StatefulSets(namespace).Create(ctx, sts, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
}

// readyPods waits until the StatefulSet reports all replicas ready and returns its pods by ordinal.
func readyPods(ctx SpecContext, namespace string) []corev1.Pod {
	GinkgoHelper()
	pods := make([]corev1.Pod, replicas)
	Eventually(func(g Gomega) {
		g.Expect(getStatefulSet(ctx, g, namespace).Status.ReadyReplicas).To(BeEquivalentTo(replicas))
		for i := range pods {
			pod := getPod(ctx, g, namespace, fmt.Sprintf("chat-%d", i))
			g.Expect(isReady(pod)).To(BeTrue(), pod.Name)
			g.Expect(pod.Status.Phase).To(Equal(corev1.PodRunning))
			pods[i] = *pod
		}
	}).WithContext(ctx).Should(Succeed())
	return pods
}

func getPod(ctx SpecContext, g Gomega, namespace, name string) *corev1.Pod {
	pod, err := clients.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	return pod
}

func getStatefulSet(ctx SpecContext, g Gomega, namespace string) *appsv1.StatefulSet {
	sts, err := clients.AppsV1().StatefulSets(namespace).Get(ctx, "chat", metav1.GetOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	return sts
}

func isReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

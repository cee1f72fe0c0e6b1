package controlplane

import (
	"os"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
)

var _ = Describe("ControlPlane", func() {
	var clients *kubernetes.Clientset

	BeforeEach(func() {
		var err error
		clients, err = kubernetes.NewForConfig(cp.Config)
		Expect(err).NotTo(HaveOccurred())
	})

	It("writes a private administrator kubeconfig", func(ctx SpecContext) {
		info, err := os.Stat(cp.KubeconfigPath)
		Expect(err).NotTo(HaveOccurred())
		Expect(info.Mode().Perm()).To(Equal(os.FileMode(0o600)))
		cfg, err := clientcmd.BuildConfigFromFlags("", cp.KubeconfigPath)
		Expect(err).NotTo(HaveOccurred())
		admin, err := kubernetes.NewForConfig(cfg)
		Expect(err).NotTo(HaveOccurred())
		Expect(admin.CoreV1().Nodes().DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})).To(Succeed())
	})

	It("passes extra flags to kube-apiserver", func() {
		Expect(processesMentioning("--event-ttl=5m0s")).To(HaveLen(1))
	})

	It("runs the deployment, replicaset and garbage-collector controllers", func(ctx SpecContext) {
		deployments := clients.AppsV1().Deployments("default")
		d, err := deployments.Create(ctx, deployment("web"), metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())

		By("the deployment controller creating a ReplicaSet whose controller creates the pod")
		Eventually(func(g Gomega) {
			pods, err := clients.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(pods.Items).To(HaveLen(1))
		}).WithContext(ctx).Should(Succeed())

		By("the garbage collector deleting the ReplicaSet and pod with the deployment")
		Expect(deployments.Delete(ctx, d.Name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)})).To(Succeed())
		Eventually(func(g Gomega) {
			rs, err := clients.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(rs.Items).To(BeEmpty())
		}).WithContext(ctx).Should(Succeed())
	}, SpecTimeout(time.Minute))

	It("runs the namespace controller, which empties and removes a deleted namespace", func(ctx SpecContext) {
		ns, err := clients.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "doomed-"}}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: ns.Name}}
		_, err = clients.CoreV1().ConfigMaps(ns.Name).Create(ctx, cm, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(clients.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})).To(Succeed())
		Eventually(func(g Gomega) {
			_, err := clients.CoreV1().Namespaces().Get(ctx, ns.Name, metav1.GetOptions{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "namespace %s still there: %v", ns.Name, err)
		}).WithContext(ctx).WithTimeout(50 * time.Second).Should(Succeed())
	}, SpecTimeout(time.Minute))
})

func deployment(name string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.com/app:v1"}}},
			},
		},
	}
}

var _ = Describe("Start", func() {
	It("stops what it started when kube-controller-manager fails, reporting its log", func(ctx SpecContext) {
		before := processesMentioning(cp.BinDir)
		_, err := Start(ctx, Options{ControllerManagerFlags: map[string]string{"no-such-flag": "x"}})
		Expect(err).To(MatchError(ContainSubstring("unknown flag: --no-such-flag")))
		Expect(processesMentioning(cp.BinDir)).To(ConsistOf(before))
	}, SpecTimeout(time.Minute))
})

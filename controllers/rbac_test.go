package controllers_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/controllers"
)

// managerAccount is the service account config/rbac gives the manager.
const managerAccount = "system:serviceaccount:stablering-system:stablering-manager"

var _ = Describe("Least-privilege RBAC", func() {
	It("runs a paced rollout with only the generated role", func(ctx SpecContext) {
		By("applying the service account, the generated ClusterRole and its binding from config/rbac")
		Expect(client.IgnoreAlreadyExists(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "stablering-system"}}))).To(Succeed())
		for _, file := range []string{"service_account.yaml", "role.yaml", "role_binding.yaml"} {
			applyFile(ctx, filepath.Join("..", "config", "rbac", file))
		}
		cfg := rest.CopyConfig(cp.Config)
		cfg.Impersonate = rest.ImpersonationConfig{
			UserName: managerAccount,
			Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:stablering-system", "system:authenticated"},
		}
		scheme, err := controllers.Scheme()
		Expect(err).NotTo(HaveOccurred())
		manager, err := client.New(cfg, client.Options{Scheme: scheme})
		Expect(err).NotTo(HaveOccurred())

		namespace := newNamespace(ctx)
		createStatefulSet(ctx, namespace, 3, appsv1.OnDeleteStatefulSetStrategyType)
		createRing(ctx, namespace, withRollout(2, 1, 0, 60))

		By("the identity can do nothing beyond the role")
		for what, err := range map[string]error{
			"update a StatefulSet":  manager.Update(ctx, getStatefulSet(ctx, Default, namespace)),
			"update a StableRing":   manager.Update(ctx, getRing(ctx, Default, namespace)),
			"create a pod":          manager.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "x"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "x"}}}}),
			"list secrets":          manager.List(ctx, &corev1.SecretList{}),
			"delete a StableRing":   manager.Delete(ctx, &v1alpha1.StableRing{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}),
			"delete a StatefulSet":  manager.Delete(ctx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}),
			"list core v1 events":   manager.List(ctx, &corev1.EventList{}),
			"update a pod's status": manager.Status().Update(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: podName(0)}}),
		} {
			Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%s: %v", what, err)
		}

		By("running the manager as that identity, for all namespaces as in production")
		startManager(cfg)
		waitReady(ctx, namespace, 3)
		updateStatefulSet(ctx, namespace, setEnv("VERSION", "2"))
		waitReady(ctx, namespace, 3)
		Expect(deletes.in(namespace)).To(HaveLen(3))
		Eventually(func(g Gomega) []string {
			return eventReasons(ctx, g, namespace)
		}).WithContext(ctx).Should(ContainElements("MemberJoined", "BatchStarted", "BatchCompleted", "RolloutCompleted"))
	}, SpecTimeout(2*time.Minute))
})

// applyFile creates the objects of a YAML file, or updates them if they exist.
func applyFile(ctx SpecContext, path string) {
	GinkgoHelper()
	f, err := os.Open(path)
	Expect(err).NotTo(HaveOccurred())
	defer f.Close()
	decoder := yaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		obj := &unstructured.Unstructured{}
		err := decoder.Decode(&obj.Object)
		if errors.Is(err, io.EOF) {
			return
		}
		Expect(err).NotTo(HaveOccurred(), path)
		if len(obj.Object) == 0 {
			continue
		}
		existing := obj.DeepCopy()
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(obj), existing); err == nil {
			obj.SetResourceVersion(existing.GetResourceVersion())
			Expect(k8s.Update(ctx, obj)).To(Succeed())
			continue
		}
		Expect(k8s.Create(ctx, obj)).To(Succeed(), path)
	}
}

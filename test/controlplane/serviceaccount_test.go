package controlplane

import (
	"os"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

var _ = Describe("ImpersonatingKubeconfig", func() {
	It("acts as the service account, with only its RBAC permissions", func(ctx SpecContext) {
		path, err := cp.ImpersonatingKubeconfig("default", "robot")
		Expect(err).NotTo(HaveOccurred())
		info, err := os.Stat(path)
		Expect(err).NotTo(HaveOccurred())
		Expect(info.Mode().Perm()).To(Equal(os.FileMode(0o600)))
		cfg, err := clientcmd.BuildConfigFromFlags("", path)
		Expect(err).NotTo(HaveOccurred())
		robot, err := kubernetes.NewForConfig(cfg)
		Expect(err).NotTo(HaveOccurred())

		By("authenticating as the service account")
		review, err := robot.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(review.Status.UserInfo.Username).To(Equal("system:serviceaccount:default:robot"))
		Expect(review.Status.UserInfo.Groups).To(ConsistOf("system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"))

		By("being forbidden what its roles do not grant")
		_, err = robot.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)

		By("being allowed what a role bound to it grants")
		bindConfigMapReader(ctx, "default", "robot")
		Eventually(func() error {
			_, err := robot.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
			return err
		}).WithContext(ctx).Should(Succeed())
	}, SpecTimeout(time.Minute))

	It("fails once the control plane is stopped", func() {
		_, err := (&ControlPlane{}).ImpersonatingKubeconfig("default", "robot")
		Expect(err).To(MatchError(ContainSubstring("stopped")))
	})
})

// bindConfigMapReader lets the service account namespace/name list ConfigMaps in namespace.
func bindConfigMapReader(ctx SpecContext, namespace, name string) {
	admin, err := kubernetes.NewForConfig(cp.Config)
	Expect(err).NotTo(HaveOccurred())
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "configmap-reader", Namespace: namespace},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"list"}}},
	}
	_, err = admin.RbacV1().Roles(namespace).Create(ctx, role, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "configmap-reader", Namespace: namespace},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: namespace}},
	}
	_, err = admin.RbacV1().RoleBindings(namespace).Create(ctx, binding, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
}

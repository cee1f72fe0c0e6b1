package controllers_test

import (
	"net/http"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/stablering/stablering/api/v1alpha1"
)

// undeletableLabel marks the pods that refuseDeletions has the API server refuse to delete.
const undeletableLabel = "test.stablering.io/undeletable"

var _ = Describe("Pod deletion", func() {
	var namespace string

	BeforeEach(func(ctx SpecContext) {
		namespace = newNamespace(ctx)
	})

	It("does not hold the StableRing while a batch's pod deletion is in flight", func(ctx SpecContext) {
		startManager(cp.Config, namespace)
		createStatefulSet(ctx, namespace, 3, appsv1.OnDeleteStatefulSetStrategyType)
		createRing(ctx, namespace, withRollout(2, 1, 0, 120))
		waitReady(ctx, namespace, 3)
		release := deletes.hold(namespace, podName(2))
		uids := podUIDs(ctx, Default, namespace)

		updateStatefulSet(ctx, namespace, setEnv("VERSION", "2"))
		By("chat-1, the other pod of batch [2 1], replaced and Serving while chat-2's deletion waits")
		Eventually(func(g Gomega) {
			sr := getRing(ctx, g, namespace)
			g.Expect(sr.Status.Rollout.Step).To(Equal(v1alpha1.BatchRestarting))
			g.Expect(memberStates(members(ctx, g, sr))).To(Equal(map[int32]v1alpha1.MemberState{0: "Serving", 1: "Serving", 2: "Restarting"}))
			g.Expect(deletes.in(namespace)).To(Equal(map[string]int{"chat-1": 1}))
			g.Expect(podUIDs(ctx, g, namespace)[podName(2)]).To(Equal(uids[podName(2)]))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())

		By("the rollout finishing once the deletion goes through, every pod deleted once")
		release()
		waitReady(ctx, namespace, 3)
		Expect(deletes.in(namespace)).To(Equal(map[string]int{"chat-0": 1, "chat-1": 1, "chat-2": 1}))
	}, SpecTimeout(2*time.Minute))

	It("retries a deletion the API server refuses, and deletes the pod once when it changes", func(ctx SpecContext) {
		startManager(cp.Config, namespace)
		createStatefulSet(ctx, namespace, 3, appsv1.OnDeleteStatefulSetStrategyType)
		createRing(ctx, namespace, withRollout(2, 1, 0, 120))
		waitReady(ctx, namespace, 3)
		setPodLabel(ctx, namespace, podName(2), ptr.To("true"))
		refuseDeletions(ctx, namespace, podName(2))
		retries := deletionRetries(Default)

		updateStatefulSet(ctx, namespace, setEnv("VERSION", "2"))
		By("chat-1 replaced, chat-2's refused deletion retried")
		Eventually(func(g Gomega) {
			sr := getRing(ctx, g, namespace)
			g.Expect(memberStates(members(ctx, g, sr))).To(Equal(map[int32]v1alpha1.MemberState{0: "Serving", 1: "Serving", 2: "Restarting"}))
			g.Expect(deletes.in(namespace)).To(Equal(map[string]int{"chat-1": 1}))
			g.Expect(deletes.answered(namespace, http.StatusUnprocessableEntity)[podName(2)]).To(BeNumerically(">=", 3))
			g.Expect(deletionRetries(g)).To(BeNumerically(">=", retries+2), "the retries the user guide's metric counts")
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())

		// A label the ring does not read does not reconcile it: the deleter's next retry finds the
		// pod changed (its precondition fails) and has the StableRing decide again.
		By("chat-2 deleted once after its label is removed, which changes it")
		setPodLabel(ctx, namespace, podName(2), nil)
		waitReady(ctx, namespace, 3)
		Expect(deletes.in(namespace)).To(Equal(map[string]int{"chat-0": 1, "chat-1": 1, "chat-2": 1}))
	}, SpecTimeout(2*time.Minute))
})

// refuseDeletions has the API server refuse to delete the pods of namespace that carry
// undeletableLabel "true", with a ValidatingAdmissionPolicy, and waits until it refuses a dry
// run of deleting pod probe, which carries the label.
func refuseDeletions(ctx SpecContext, namespace, probe string) {
	GinkgoHelper()
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "refuse-deletions-" + namespace},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Delete},
						Rule: admissionregistrationv1.Rule{
							APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
						},
					},
				}},
			},
			Validations: []admissionregistrationv1.Validation{{Expression: "false", Message: "the test refuses this deletion"}},
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: policy.Name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        policy.Name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			MatchResources: &admissionregistrationv1.MatchResources{
				NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: namespace}},
				ObjectSelector:    &metav1.LabelSelector{MatchLabels: map[string]string{undeletableLabel: "true"}},
			},
		},
	}
	for _, obj := range []client.Object{policy, binding} {
		Expect(k8s.Create(ctx, obj)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) {
			Expect(client.IgnoreNotFound(k8s.Delete(ctx, obj))).To(Succeed())
		})
	}
	// The API server applies a new policy a moment later; a dry run shows when.
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: probe}}
	Eventually(func() bool {
		return apierrors.IsInvalid(k8s.Delete(ctx, pod, client.DryRunAll))
	}).WithContext(ctx).Should(BeTrue(), "the policy never refused a deletion")
}

// setPodLabel sets undeletableLabel of pod namespace/name to value, or removes it if value is nil.
func setPodLabel(ctx SpecContext, namespace, name string, value *string) {
	GinkgoHelper()
	pod := &corev1.Pod{}
	Expect(k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, pod)).To(Succeed())
	before := pod.DeepCopy()
	if value == nil {
		delete(pod.Labels, undeletableLabel)
	} else {
		pod.Labels[undeletableLabel] = *value
	}
	Expect(k8s.Patch(ctx, pod, client.MergeFrom(before))).To(Succeed())
}

// deletionRetries returns workqueue_retries_total of the pod deletion queue from the registry
// that managers serve their metrics from (all managers of this process count into it).
func deletionRetries(g Gomega) float64 {
	families, err := metrics.Registry.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() != "workqueue_retries_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool {
				return l.GetName() == "name" && l.GetValue() == "stablering-pod-deletions"
			}) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

package controllers_test

import (
	"context"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/controllers"
)

var _ = Describe("Scale", func() {
	var namespace string

	BeforeEach(func(ctx SpecContext) {
		namespace = newNamespace(ctx)
	})

	It("caches only StatefulSet pods, reduced to what rings read, and still resolves the ring", func(ctx SpecContext) {
		reader := startManagerWithCache(ctx, namespace)
		bare := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "unrelated", Namespace: namespace, Labels: map[string]string{"app": "other"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "x", Image: "example.com/x:v1"}}},
		}
		Expect(k8s.Create(ctx, bare)).To(Succeed())
		createStatefulSet(ctx, namespace, 2, appsv1.OnDeleteStatefulSetStrategyType, func(sts *appsv1.StatefulSet) {
			sts.Spec.Template.Annotations = map[string]string{"note": strings.Repeat("x", 4096)}
		})
		createRing(ctx, namespace)
		sr := waitReady(ctx, namespace, 2)
		Expect(members(ctx, Default, sr)[0].Address).To(HaveSuffix(":8080"), "the named port resolves from the slimmed pod")

		By("the unrelated pod is not in the cache")
		err := reader.Get(ctx, client.ObjectKeyFromObject(bare), &corev1.Pod{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "got %v", err)

		By("the StatefulSet's pods are, with only what a ring reads")
		pods := &corev1.PodList{}
		Expect(reader.List(ctx, pods, client.InNamespace(namespace))).To(Succeed())
		Expect(pods.Items).To(HaveLen(2))
		for _, pod := range pods.Items {
			Expect(pod.Annotations).To(BeEmpty())
			Expect(pod.ManagedFields).To(BeEmpty())
			Expect(pod.Labels).To(HaveKey(appsv1.ControllerRevisionHashLabelKey))
			Expect(pod.Labels).To(HaveKey(appsv1.PodIndexLabel))
			Expect(pod.Labels).NotTo(HaveKey("app"))
			Expect(pod.OwnerReferences).To(HaveLen(1))
			Expect(pod.Spec.Containers).To(Equal([]corev1.Container{{
				Name: "chat", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
			}}))
			Expect(pod.Spec.NodeName).To(BeEmpty())
			Expect(pod.Status.PodIP).NotTo(BeEmpty())
			Expect(pod.Status.Conditions).To(Equal([]corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}))
			Expect(pod.Status.ContainerStatuses).To(BeEmpty())
		}

		By("the cached StatefulSet has no pod template")
		sts := &appsv1.StatefulSet{}
		Expect(reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, sts)).To(Succeed())
		Expect(sts.Spec.Template.Annotations).To(BeEmpty())
		Expect(sts.Spec.Template.Spec.Containers).To(BeEmpty())
		Expect(sts.Spec.Replicas).To(Equal(ptr.To[int32](2)))
		Expect(sts.Status.UpdateRevision).NotTo(BeEmpty())

		By("a readiness change of a slimmed pod still reaches the ring")
		runtime.setNeverReady(namespace+"/"+podName(1), true)
		DeferCleanup(runtime.setNeverReady, namespace+"/"+podName(1), false)
		Expect(k8s.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: podName(1)}})).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(getRing(ctx, g, namespace).Status.ReadyMembers).To(BeEquivalentTo(1))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
	})

	It("does not see a pod without the controller-revision-hash label: its member is Down until the pod is recreated", func(ctx SpecContext) {
		startManager(cp.Config, namespace)
		createStatefulSet(ctx, namespace, 2, appsv1.OnDeleteStatefulSetStrategyType)
		createRing(ctx, namespace)
		waitReady(ctx, namespace, 2)

		By("removing the label from a Ready pod")
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: podName(1)}}
		unlabel := client.RawPatch(types.JSONPatchType, []byte(`[{"op":"remove","path":"/metadata/labels/controller-revision-hash"}]`))
		Expect(k8s.Patch(ctx, pod, unlabel)).To(Succeed())
		Eventually(func(g Gomega) {
			sr := getRing(ctx, g, namespace)
			g.Expect(memberStates(members(ctx, g, sr))).To(Equal(map[int32]v1alpha1.MemberState{0: v1alpha1.MemberServing, 1: v1alpha1.MemberDown}))
			g.Expect(sr).To(haveCondition(v1alpha1.ConditionDegraded, metav1.ConditionTrue, "MembersDown"))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(pod), pod)).To(Succeed())
		Expect(isReady(pod)).To(BeTrue(), "the pod itself stays Ready")

		By("deleting it: the StatefulSet recreates it with the label")
		Expect(k8s.Delete(ctx, pod)).To(Succeed())
		waitReady(ctx, namespace, 2)
	})

	It("writes status a small constant number of times per batch, however large the batch, and a pod's readiness within a second", func(ctx SpecContext) {
		startManager(cp.Config, namespace)
		createStatefulSet(ctx, namespace, 12, appsv1.OnDeleteStatefulSetStrategyType)
		createRing(ctx, namespace, withRollout(6, 1, 0, 60))
		waitReady(ctx, namespace, 12)
		events := recordTimeline(ctx, namespace)

		updateStatefulSet(ctx, namespace, setEnv("VERSION", "2"))
		after := waitReady(ctx, namespace, 12)
		Expect(after.Status.Rollout.Batch).To(BeEquivalentTo(2))
		statusWrites, sliceWrites := events.writes()
		GinkgoWriter.Printf("writes for 2 batches of 6 pods: %d of status, %d of the MemberSlice\n", statusWrites, sliceWrites)
		Expect(statusWrites).To(BeNumerically("<=", 2*maxWritesPerBatch+1), "two batches and the rollout's end")
		Expect(sliceWrites).To(BeNumerically("<=", statusWrites), "the one slice is written only with a status that names it")

		By("every pod of a batch deleted once")
		Expect(deletes.in(namespace)).To(HaveLen(12))
		Expect(deletes.in(namespace)).To(HaveEach(1))

		By("every new pod's member Serving within the coalescing window of its readiness")
		readiness := events.becameReady()
		Expect(readiness).To(HaveLen(12), "one readiness change per replacement pod")
		for _, r := range readiness {
			serving, ok := events.firstState(ordinalOf(r.name), v1alpha1.MemberServing, r.at)
			Expect(ok).To(BeTrue(), "the member of %s never Serving after its pod was Ready", r.name)
			Expect(serving.Sub(r.at)).To(BeNumerically("<", maxReadinessToStatus), "the member of %s", r.name)
		}
	})
})

// maxReadinessToStatus bounds the time from a pod's readiness to the status write listing its
// member Serving: the coalescing window (one second), and a second for the reconcile, the write
// and the watches on a busy machine.
const maxReadinessToStatus = 2 * time.Second

// becameReady returns the pods the timeline saw change to Ready (from not Ready, or created
// not Ready), with when the test saw the change: one sample per pod UID.
func (t *timeline) becameReady() []podSample {
	t.mu.Lock()
	defer t.mu.Unlock()
	unready := map[string]bool{}
	var out []podSample
	for _, s := range t.pods {
		switch {
		case s.gone || s.deleting:
			delete(unready, s.uid)
		case !s.ready:
			unready[s.uid] = true
		case unready[s.uid]:
			delete(unready, s.uid)
			out = append(out, s)
		}
	}
	return out
}

// maxWritesPerBatch bounds the status writes of one rollout batch, whatever its size: Draining,
// Restarting, Settling, and the members coming back to Serving one coalescing window at a time
// (the simulated pods of a batch stop within a second and are ready a second later). Without
// coalescing, each pod of a batch wrote about twice more.
const maxWritesPerBatch = 6

// startManagerWithCache runs a StableRing manager limited to namespace until the spec ends and
// returns its cache, to look at what it holds.
func startManagerWithCache(ctx SpecContext, namespace string) client.Reader {
	GinkgoHelper()
	runCtx, cancel := context.WithCancel(logf.IntoContext(context.Background(), GinkgoLogr))
	mgr, err := controllers.NewManager(runCtx, cp.Config, controllers.ManagerOptions{
		MetricsBindAddress:     "0",
		HealthProbeBindAddress: "0",
		Namespaces:             []string{namespace},
		SkipNameValidation:     true,
	})
	Expect(err).NotTo(HaveOccurred())
	done := make(chan error, 1)
	go func() {
		defer GinkgoRecover()
		done <- mgr.Start(runCtx)
	}()
	DeferCleanup(func() {
		cancel()
		Expect(<-done).To(Succeed())
	})
	Expect(mgr.GetCache().WaitForCacheSync(ctx)).To(BeTrue())
	return mgr.GetCache()
}

// writes counts the updates of StableRings and of MemberSlices the timeline saw.
func (t *timeline) writes() (status, slices int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.statusWrites, t.sliceWrites
}

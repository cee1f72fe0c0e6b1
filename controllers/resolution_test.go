package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stablering/stablering/api/v1alpha1"
)

var _ = Describe("Ring resolution", func() {
	var namespace string

	BeforeEach(func(ctx SpecContext) {
		namespace = newNamespace(ctx)
		startManager(cp.Config, namespace)
	})

	It("resolves Pending, Serving and Down members, and joins a member when it is first Ready", func(ctx SpecContext) {
		runtime.setNeverReady(namespace+"/"+podName(2), true)
		createStatefulSet(ctx, namespace, 3, appsv1.OnDeleteStatefulSetStrategyType)
		createRing(ctx, namespace)

		By("members 0 and 1 Serving, member 2 Pending: never Ready, not on the ring")
		var version string
		Eventually(func(g Gomega) {
			sr := getRing(ctx, g, namespace)
			g.Expect(memberStates(members(ctx, g, sr))).To(Equal(map[int32]v1alpha1.MemberState{0: "Serving", 1: "Serving", 2: "Pending"}))
			g.Expect(sr).To(haveCondition(v1alpha1.ConditionReady, metav1.ConditionTrue, "AllMembersServing"))
			g.Expect(sr).To(haveCondition(v1alpha1.ConditionDegraded, metav1.ConditionFalse, "AsExpected"))
			for _, m := range members(ctx, g, sr)[:2] {
				g.Expect(m.Address).To(MatchRegexp(`^127\.\d+\.\d+\.\d+:8080$`))
			}
			g.Expect(sr.Status.ReadyMembers).To(BeEquivalentTo(2))
			g.Expect(sr.Status.RingVersion).NotTo(BeEmpty())
			version = sr.Status.RingVersion
		}).WithContext(ctx).Should(Succeed())

		By("a joined member that stops being Ready is Down, and the ring Degraded")
		Expect(sim.SetReady(namespace, podName(1), false)).To(Succeed())
		Eventually(func(g Gomega) {
			sr := getRing(ctx, g, namespace)
			g.Expect(memberStates(members(ctx, g, sr))).To(HaveKeyWithValue(int32(1), v1alpha1.MemberDown))
			g.Expect(sr).To(haveCondition(v1alpha1.ConditionReady, metav1.ConditionFalse, "MembersNotServing"))
			g.Expect(sr).To(haveCondition(v1alpha1.ConditionDegraded, metav1.ConditionTrue, "MembersDown"))
			g.Expect(condition(sr, v1alpha1.ConditionDegraded).Message).To(ContainSubstring("1 (chat-1)"))
			g.Expect(sr.Status.RingVersion).NotTo(Equal(version))
		}).WithContext(ctx).Should(Succeed())

		By("it serves again once Ready")
		Expect(sim.SetReady(namespace, podName(1), true)).To(Succeed())
		Eventually(func(g Gomega) {
			sr := getRing(ctx, g, namespace)
			g.Expect(memberStates(members(ctx, g, sr))).To(HaveKeyWithValue(int32(1), v1alpha1.MemberServing))
			g.Expect(sr).To(haveCondition(v1alpha1.ConditionDegraded, metav1.ConditionFalse, "AsExpected"))
			g.Expect(sr.Status.RingVersion).To(Equal(version))
		}).WithContext(ctx).Should(Succeed())

		By("the Pending member joining once its pod is first Ready")
		runtime.setNeverReady(namespace+"/"+podName(2), false)
		waitReady(ctx, namespace, 3)
		Eventually(func(g Gomega) []string {
			return eventReasons(ctx, g, namespace)
		}).WithContext(ctx).Should(ContainElements("MemberJoined", "MemberDown"))
	}, SpecTimeout(2*time.Minute))

	It("keeps a member's ordinal when its pod comes back with a new IP", func(ctx SpecContext) {
		createStatefulSet(ctx, namespace, 3, appsv1.OnDeleteStatefulSetStrategyType)
		createRing(ctx, namespace)
		before := waitReady(ctx, namespace, 3)
		membersBefore := members(ctx, Default, before)

		Expect(k8s.Delete(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: podName(1)}})).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(memberStates(members(ctx, g, getRing(ctx, g, namespace)))).To(HaveKeyWithValue(int32(1), v1alpha1.MemberDown))
		}).WithContext(ctx).Should(Succeed())
		after := waitReady(ctx, namespace, 3)
		membersAfter := members(ctx, Default, after)
		Expect(membersAfter[1].Ordinal).To(BeEquivalentTo(1))
		Expect(membersAfter[1].Address).NotTo(Equal(membersBefore[1].Address))
		Expect(membersAfter[0]).To(Equal(membersBefore[0]))
		Expect(membersAfter[2]).To(Equal(membersBefore[2]))
		Expect(after.Status.RingVersion).NotTo(Equal(before.Status.RingVersion))
		Consistently(func(g Gomega) []string {
			return eventReasons(ctx, g, namespace)
		}).WithContext(ctx).WithTimeout(time.Second).ShouldNot(ContainElement("MemberLeft"))
	}, SpecTimeout(2*time.Minute))

	It("adds members on scale-up, when Ready, and removes them on scale-down", func(ctx SpecContext) {
		createStatefulSet(ctx, namespace, 3, appsv1.OnDeleteStatefulSetStrategyType)
		createRing(ctx, namespace)
		three := members(ctx, Default, waitReady(ctx, namespace, 3))

		updateStatefulSet(ctx, namespace, func(sts *appsv1.StatefulSet) { sts.Spec.Replicas = ptr.To[int32](5) })
		five := waitReady(ctx, namespace, 5)
		Expect(five.Status.Replicas).To(BeEquivalentTo(5))
		Expect(members(ctx, Default, five)[:3]).To(Equal(three))
		Expect(five.Status.MemberSlices).To(HaveLen(1))

		updateStatefulSet(ctx, namespace, func(sts *appsv1.StatefulSet) { sts.Spec.Replicas = ptr.To[int32](2) })
		two := waitReady(ctx, namespace, 2)
		Expect(members(ctx, Default, two)).To(Equal(three[:2]))
		Eventually(func(g Gomega) []string {
			return eventReasons(ctx, g, namespace)
		}).WithContext(ctx).Should(ContainElement("MemberLeft"))
	}, SpecTimeout(2*time.Minute))

	It("holds the members of a deleted StatefulSet as Down and recovers when it is recreated", func(ctx SpecContext) {
		createRing(ctx, namespace)
		Eventually(func(g Gomega) {
			sr := getRing(ctx, g, namespace)
			g.Expect(sr).To(haveCondition(v1alpha1.ConditionDegraded, metav1.ConditionTrue, "StatefulSetNotFound"))
			g.Expect(sr).To(haveCondition(v1alpha1.ConditionReady, metav1.ConditionFalse, "StatefulSetNotFound"))
			g.Expect(sr).To(haveCondition(v1alpha1.ConditionProgressing, metav1.ConditionFalse, "StatefulSetNotFound"))
			g.Expect(members(ctx, g, sr)).To(BeEmpty())
		}).WithContext(ctx).Should(Succeed())

		createStatefulSet(ctx, namespace, 3, appsv1.OnDeleteStatefulSetStrategyType)
		waitReady(ctx, namespace, 3)

		By("deleting the StatefulSet: its joined members are Down")
		Expect(k8s.Delete(ctx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}},
			client.PropagationPolicy(metav1.DeletePropagationBackground))).To(Succeed())
		Eventually(func(g Gomega) {
			sr := getRing(ctx, g, namespace)
			g.Expect(memberStates(members(ctx, g, sr))).To(Equal(allStates(3, v1alpha1.MemberDown)))
			g.Expect(sr).To(haveCondition(v1alpha1.ConditionDegraded, metav1.ConditionTrue, "StatefulSetNotFound"))
			g.Expect(condition(sr, v1alpha1.ConditionDegraded).Message).To(ContainSubstring("3 joined members are kept as Down"))
		}).WithContext(ctx).Should(Succeed())

		By("recreating it")
		Eventually(func(g Gomega) {
			pods := &corev1.PodList{}
			g.Expect(k8s.List(ctx, pods, client.InNamespace(namespace))).To(Succeed())
			g.Expect(pods.Items).To(BeEmpty())
		}).WithContext(ctx).Should(Succeed())
		createStatefulSet(ctx, namespace, 3, appsv1.OnDeleteStatefulSetStrategyType)
		sr := waitReady(ctx, namespace, 3)
		Expect(sr).To(haveCondition(v1alpha1.ConditionDegraded, metav1.ConditionFalse, "AsExpected"))
	}, SpecTimeout(2*time.Minute))

	It("resolves named and numbered ports, and says when a named port does not exist", func(ctx SpecContext) {
		createStatefulSet(ctx, namespace, 2, appsv1.OnDeleteStatefulSetStrategyType)
		createRing(ctx, namespace)
		sr := waitReady(ctx, namespace, 2)
		for _, m := range members(ctx, Default, sr) {
			Expect(m.Address).To(HaveSuffix(":8080"))
		}

		updateRing(ctx, namespace, func(sr *v1alpha1.StableRing) { sr.Spec.Port = intstr.FromInt32(9000) })
		Eventually(func(g Gomega) {
			sr := getRing(ctx, g, namespace)
			g.Expect(sr.Status.ObservedGeneration).To(Equal(sr.Generation))
			for _, m := range members(ctx, g, sr) {
				g.Expect(m.Address).To(HaveSuffix(":9000"))
			}
		}).WithContext(ctx).Should(Succeed())

		updateRing(ctx, namespace, func(sr *v1alpha1.StableRing) { sr.Spec.Port = intstr.FromString("admin") })
		Eventually(func(g Gomega) {
			sr := getRing(ctx, g, namespace)
			g.Expect(sr).To(haveCondition(v1alpha1.ConditionDegraded, metav1.ConditionTrue, "PortNotFound"))
			g.Expect(condition(sr, v1alpha1.ConditionDegraded).Message).To(ContainSubstring(`spec.port "admin" is not a container port of pods chat-0, chat-1`))
			for _, m := range members(ctx, g, sr) {
				g.Expect(m.Address).To(BeEmpty())
			}
		}).WithContext(ctx).Should(Succeed())
	}, SpecTimeout(2*time.Minute))

	It("resolves the ring of a RollingUpdate StatefulSet without pacing it, and says so", func(ctx SpecContext) {
		createStatefulSet(ctx, namespace, 3, appsv1.RollingUpdateStatefulSetStrategyType)
		createRing(ctx, namespace)
		Eventually(func(g Gomega) {
			sr := getRing(ctx, g, namespace)
			g.Expect(sr).To(haveCondition(v1alpha1.ConditionProgressing, metav1.ConditionFalse, "RollingUpdateStrategy"))
			g.Expect(sr).To(haveCondition(v1alpha1.ConditionDegraded, metav1.ConditionTrue, "RollingUpdateStrategy"))
			g.Expect(condition(sr, v1alpha1.ConditionDegraded).Message).To(ContainSubstring("OnDelete"))
			g.Expect(sr.Status.Rollout).NotTo(BeNil())
			g.Expect(sr.Status.Rollout.Phase).To(Equal(v1alpha1.RolloutDisabled))
		}).WithContext(ctx).Should(Succeed())
		waitReady(ctx, namespace, 3)

		By("the StatefulSet controller rolling the pods itself")
		updateStatefulSet(ctx, namespace, setEnv("VERSION", "2"))
		Eventually(func(g Gomega) {
			sr := getRing(ctx, g, namespace)
			sts := getStatefulSet(ctx, g, namespace)
			g.Expect(sts.Status.UpdateRevision).NotTo(Equal(sts.Status.CurrentRevision))
			g.Expect(sr.Status.Rollout.UpdateRevision).To(Equal(sts.Status.UpdateRevision))
		}).WithContext(ctx).Should(Succeed())
		waitReady(ctx, namespace, 3)
		Expect(deletes.in(namespace)).To(BeEmpty(), "the controller deleted pods of a RollingUpdate StatefulSet")
	}, SpecTimeout(2*time.Minute))
})

package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stablering/stablering/api/v1alpha1"
)

// follower names the second StableRing over StatefulSet "chat".
const follower = "chat-rooms"

var _ = Describe("Two StableRings over one StatefulSet", func() {
	var namespace string

	BeforeEach(func(ctx SpecContext) {
		namespace = newNamespace(ctx)
	})

	It("lets only the oldest pace the rollout; the other deletes no pods and shows the batches as planned", func(ctx SpecContext) {
		startManager(cp.Config, namespace)
		createStatefulSet(ctx, namespace, 4, appsv1.OnDeleteStatefulSetStrategyType)
		createRing(ctx, namespace, withRollout(2, drainSeconds, 0, 60))
		waitReady(ctx, namespace, 4)
		// The younger StableRing, with a rollout of its own that would replace one pod at a time.
		createRing(ctx, namespace, withRollout(1, 1, 0, 60), func(sr *v1alpha1.StableRing) {
			sr.Name = follower
			sr.Spec.Key = v1alpha1.KeySpec{Source: v1alpha1.KeySourcePath, PathSegment: ptr.To(int32(1))} // /rooms/{room}/ws
		})

		By("the younger StableRing says which one owns the rollout")
		Eventually(func(g Gomega) {
			sr := getFollower(ctx, g, namespace)
			g.Expect(memberStates(members(ctx, g, sr))).To(Equal(allStates(4, v1alpha1.MemberServing)))
			g.Expect(sr).To(haveCondition(v1alpha1.ConditionProgressing, metav1.ConditionFalse, "RolloutOwnedElsewhere"))
			g.Expect(condition(sr, v1alpha1.ConditionProgressing).Message).To(ContainSubstring("StableRing chat, the oldest StableRing naming StatefulSet chat"))
			g.Expect(eventsAbout(ctx, g, namespace, follower, "RolloutOwnedElsewhere")).To(HaveLen(1))
		}).WithContext(ctx).Should(Succeed())
		events := recordTimeline(ctx, namespace)

		updateStatefulSet(ctx, namespace, setEnv("VERSION", "2"))
		waitReady(ctx, namespace, 4)
		Eventually(func(g Gomega) {
			sr := getFollower(ctx, g, namespace)
			g.Expect(memberStates(members(ctx, g, sr))).To(Equal(allStates(4, v1alpha1.MemberServing)))
			g.Expect(sr.Status.UpdatedMembers).To(BeEquivalentTo(4))
		}).WithContext(ctx).Should(Succeed())

		By("every pod deleted once, by the owner's batches of 2")
		Expect(deletes.in(namespace)).To(Equal(map[string]int{"chat-0": 1, "chat-1": 1, "chat-2": 1, "chat-3": 1}))
		Expect(events.maxDown(4)).To(Equal(2))
		Expect(events.batches()).To(Equal([][]int32{{3, 2}, {1, 0}}))

		By("the younger StableRing showed the batches Draining and Restarting, never Down")
		Expect(events.statesOf(follower)).To(ContainElements(v1alpha1.MemberDraining, v1alpha1.MemberRestarting))
		Expect(events.statesOf(follower)).NotTo(ContainElement(v1alpha1.MemberDown))
		Expect(events.statesOf(name)).NotTo(ContainElement(v1alpha1.MemberDown))
		Eventually(func(g Gomega) {
			sr := getFollower(ctx, g, namespace)
			g.Expect(sr).To(haveCondition(v1alpha1.ConditionDegraded, metav1.ConditionFalse, "AsExpected"))
			g.Expect(sr).To(haveCondition(v1alpha1.ConditionProgressing, metav1.ConditionFalse, "RolloutOwnedElsewhere"))
			g.Expect(eventsAbout(ctx, g, namespace, follower, "BatchStarted")).To(BeEmpty())
			g.Expect(eventsAbout(ctx, g, namespace, follower, "RolloutOwnedElsewhere")).To(HaveLen(1))
		}).WithContext(ctx).Should(Succeed())

		By("the younger StableRing takes the rollouts over once the owner is gone")
		Expect(k8s.Delete(ctx, &v1alpha1.StableRing{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}})).To(Succeed())
		var revision string
		Eventually(func(g Gomega) {
			sr := getFollower(ctx, g, namespace)
			g.Expect(sr).To(haveCondition(v1alpha1.ConditionProgressing, metav1.ConditionFalse, "RolloutComplete"))
			revision = sr.Status.Rollout.UpdateRevision
		}).WithContext(ctx).Should(Succeed())
		updateStatefulSet(ctx, namespace, setEnv("VERSION", "3"))
		Eventually(func(g Gomega) {
			sr := getFollower(ctx, g, namespace)
			sts := getStatefulSet(ctx, g, namespace)
			g.Expect(sts.Status.ObservedGeneration).To(Equal(sts.Generation))
			g.Expect(sts.Status.UpdateRevision).NotTo(Equal(revision))
			g.Expect(sr.Status.Rollout.UpdateRevision).To(Equal(sts.Status.UpdateRevision))
			g.Expect(sr.Status.Rollout.Phase).To(Equal(v1alpha1.RolloutComplete))
			g.Expect(sr.Status.UpdatedMembers).To(BeEquivalentTo(4))
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
		Expect(deletes.in(namespace)).To(Equal(map[string]int{"chat-0": 2, "chat-1": 2, "chat-2": 2, "chat-3": 2}))
	}, SpecTimeout(3*time.Minute))
})

func getFollower(ctx SpecContext, g Gomega, namespace string) *v1alpha1.StableRing {
	sr := &v1alpha1.StableRing{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: follower}, sr)).To(Succeed())
	return sr
}

// statesOf returns every member state the StableRing named ringName showed.
func (t *timeline) statesOf(ringName string) []v1alpha1.MemberState {
	t.mu.Lock()
	defer t.mu.Unlock()
	var states []v1alpha1.MemberState
	for _, s := range t.rings {
		if s.name == ringName {
			for _, m := range s.members {
				states = append(states, m.State)
			}
		}
	}
	return states
}

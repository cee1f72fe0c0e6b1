package controllers_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/controllers/ring"
)

// drainSeconds of the paced rollouts.
const drainSeconds = 2

var _ = Describe("Rollout pacing", func() {
	var namespace string

	BeforeEach(func(ctx SpecContext) {
		namespace = newNamespace(ctx)
	})

	It("replaces 6 pods in batches of 2, highest ordinals first, draining each batch before deleting it", func(ctx SpecContext) {
		startManager(cp.Config, namespace)
		createStatefulSet(ctx, namespace, 6, appsv1.OnDeleteStatefulSetStrategyType)
		createRing(ctx, namespace, withRollout(2, drainSeconds, 0, 60))
		before := waitReady(ctx, namespace, 6)
		events := recordTimeline(ctx, namespace)
		start := time.Now()

		updateStatefulSet(ctx, namespace, setEnv("VERSION", "2"))
		after := waitReady(ctx, namespace, 6)
		Expect(after.Status.Rollout.UpdateRevision).NotTo(Equal(before.Status.Rollout.UpdateRevision))
		Expect(after.Status.Rollout.Batch).To(BeEquivalentTo(3))

		By("never more than 2 pods down at once")
		Expect(events.maxDown(6)).To(Equal(2))

		By("batches [5 4], [3 2], [1 0]")
		Expect(events.batches()).To(Equal([][]int32{{5, 4}, {3, 2}, {1, 0}}))

		By("every pod deleted once, each after its member was Draining, which then was Restarting")
		// How long a drain lasts is asserted on the controller's clock, in the next spec.
		deletions := events.deletions()
		Expect(deletions).To(HaveLen(6))
		for _, d := range deletions {
			ordinal := ordinalOf(d.name)
			draining, ok := events.firstState(ordinal, v1alpha1.MemberDraining, start)
			Expect(ok).To(BeTrue(), "member %d was never Draining", ordinal)
			_, ok = events.firstState(ordinal, v1alpha1.MemberRestarting, draining)
			Expect(ok).To(BeTrue(), "member %d was never Restarting", ordinal)
		}
		Expect(deletes.in(namespace)).To(Equal(map[string]int{
			"chat-0": 1, "chat-1": 1, "chat-2": 1, "chat-3": 1, "chat-4": 1, "chat-5": 1,
		}))

		By("events for every batch and the end of the rollout")
		Eventually(func(g Gomega) []string {
			return eventReasons(ctx, g, namespace)
		}).WithContext(ctx).Should(ContainElements("BatchStarted", "BatchCompleted", "RolloutCompleted"))
	}, SpecTimeout(3*time.Minute))

	It("deletes a batch's pods when the controller's clock reaches the end of the drain, not before", func(ctx SpecContext) {
		clk := newTestClock()
		startManagerOn(clk, cp.Config, namespace)
		createStatefulSet(ctx, namespace, 2, appsv1.OnDeleteStatefulSetStrategyType)
		createRing(ctx, namespace, withRollout(1, 30, 0, 600))
		waitReady(ctx, namespace, 2)

		updateStatefulSet(ctx, namespace, setEnv("VERSION", "2"))
		end := stepStarted(ctx, namespace, 1, v1alpha1.BatchDraining).Add(30*time.Second + ring.PublishLead)

		By("keeping the pod while the clock is short of drainSeconds plus the publish lead")
		clk.setAndPoke(ctx, namespace, end.Add(-time.Millisecond))
		Consistently(func(g Gomega) {
			g.Expect(deletes.in(namespace)).To(BeEmpty())
			r := getRing(ctx, g, namespace).Status.Rollout
			g.Expect(r.Step).To(Equal(v1alpha1.BatchDraining))
			g.Expect(memberStates(members(ctx, g, getRing(ctx, g, namespace)))[1]).To(Equal(v1alpha1.MemberDraining))
		}).WithContext(ctx).WithTimeout(2 * time.Second).Should(Succeed())

		By("deleting it when the clock reaches the end")
		clk.setAndPoke(ctx, namespace, end)
		Eventually(func(g Gomega) {
			g.Expect(deletes.in(namespace)).To(Equal(map[string]int{"chat-1": 1}))
			g.Expect(getRing(ctx, g, namespace).Status.Rollout.Step).To(Equal(v1alpha1.BatchRestarting))
		}).WithContext(ctx).Should(Succeed())
	}, SpecTimeout(2*time.Minute))

	It("stops after the current batch when paused, and resumes", func(ctx SpecContext) {
		startManager(cp.Config, namespace)
		createStatefulSet(ctx, namespace, 4, appsv1.OnDeleteStatefulSetStrategyType)
		createRing(ctx, namespace, withRollout(1, 1, 1, 60))
		waitReady(ctx, namespace, 4)
		events := recordTimeline(ctx, namespace)

		updateStatefulSet(ctx, namespace, setEnv("VERSION", "2"))
		waitForStep(ctx, events, 1, v1alpha1.BatchDraining)
		updateRing(ctx, namespace, func(sr *v1alpha1.StableRing) { sr.Spec.Rollout.Paused = true })

		By("finishing batch 1 and stopping")
		Eventually(func(g Gomega) {
			sr := getRing(ctx, g, namespace)
			g.Expect(sr).To(haveCondition(v1alpha1.ConditionProgressing, metav1.ConditionFalse, "RolloutPaused"))
			g.Expect(sr.Status.Rollout.Phase).To(Equal(v1alpha1.RolloutPaused))
			g.Expect(sr.Status.UpdatedMembers).To(BeEquivalentTo(1))
			g.Expect(memberStates(members(ctx, g, sr))).To(Equal(allStates(4, v1alpha1.MemberServing)))
		}).WithContext(ctx).Should(Succeed())
		Consistently(func(g Gomega) map[string]int {
			return deletes.in(namespace)
		}).WithContext(ctx).WithTimeout(3 * time.Second).Should(Equal(map[string]int{"chat-3": 1}))

		By("resuming")
		updateRing(ctx, namespace, func(sr *v1alpha1.StableRing) { sr.Spec.Rollout.Paused = false })
		waitReady(ctx, namespace, 4)
		Expect(deletes.in(namespace)).To(Equal(map[string]int{"chat-0": 1, "chat-1": 1, "chat-2": 1, "chat-3": 1}))
	}, SpecTimeout(3*time.Minute))

	It("stalls a batch that misses its progress deadline, and recovers with a fixed revision", func(ctx SpecContext) {
		clk := newTestClock()
		startManagerOn(clk, cp.Config, namespace)
		createStatefulSet(ctx, namespace, 3, appsv1.OnDeleteStatefulSetStrategyType)
		createRing(ctx, namespace, withRollout(1, 1, 0, 60))
		waitReady(ctx, namespace, 3)
		var uids map[string]string
		Eventually(func(g Gomega) { uids = podUIDs(ctx, g, namespace) }).WithContext(ctx).Should(Succeed())

		By("a revision whose pods never become Ready, its first batch drained and restarted")
		updateStatefulSet(ctx, namespace, setEnv("BROKEN", "1"))
		drained := stepStarted(ctx, namespace, 1, v1alpha1.BatchDraining).Add(time.Second + ring.PublishLead)
		clk.setAndPoke(ctx, namespace, drained)
		deadline := stepStarted(ctx, namespace, 1, v1alpha1.BatchRestarting).Add(60 * time.Second)

		By("still progressing until the controller's clock reaches the progress deadline")
		clk.setAndPoke(ctx, namespace, deadline.Add(-time.Millisecond))
		Consistently(func(g Gomega) {
			sr := getRing(ctx, g, namespace)
			g.Expect(sr.Status.Rollout.Phase).To(Equal(v1alpha1.RolloutProgressing))
			g.Expect(sr.Status.Rollout.Step).To(Equal(v1alpha1.BatchRestarting))
		}).WithContext(ctx).WithTimeout(2 * time.Second).Should(Succeed())

		By("stalling at the deadline")
		clk.setAndPoke(ctx, namespace, deadline)
		Eventually(func(g Gomega) {
			sr := getRing(ctx, g, namespace)
			g.Expect(sr.Status.Rollout.Phase).To(Equal(v1alpha1.RolloutStalled))
			g.Expect(sr).To(haveCondition(v1alpha1.ConditionDegraded, metav1.ConditionTrue, "ProgressDeadlineExceeded"))
			g.Expect(sr).To(haveCondition(v1alpha1.ConditionProgressing, metav1.ConditionFalse, "ProgressDeadlineExceeded"))
			g.Expect(condition(sr, v1alpha1.ConditionDegraded).Message).To(ContainSubstring("not Ready: chat-2"))
			g.Expect(memberStates(members(ctx, g, sr))).To(Equal(map[int32]v1alpha1.MemberState{0: "Serving", 1: "Serving", 2: "Down"}))
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())

		By("deleting no more pods while stalled")
		Consistently(func(g Gomega) {
			now := podUIDs(ctx, g, namespace)
			g.Expect(now[podName(0)]).To(Equal(uids[podName(0)]))
			g.Expect(now[podName(1)]).To(Equal(uids[podName(1)]))
			g.Expect(deletes.in(namespace)).To(Equal(map[string]int{"chat-2": 1}))
		}).WithContext(ctx).WithTimeout(3 * time.Second).Should(Succeed())

		By("a fixed revision lifting the stall")
		clk.follow()
		updateStatefulSet(ctx, namespace, func(sts *appsv1.StatefulSet) {
			unsetEnv("BROKEN")(sts)
			setEnv("VERSION", "3")(sts)
		})
		sr := waitReady(ctx, namespace, 3)
		Expect(sr).To(haveCondition(v1alpha1.ConditionDegraded, metav1.ConditionFalse, "AsExpected"))
		Expect(deletes.in(namespace)).To(Equal(map[string]int{"chat-0": 1, "chat-1": 1, "chat-2": 2}))
		Eventually(func(g Gomega) []string {
			return eventReasons(ctx, g, namespace)
		}).WithContext(ctx).Should(ContainElements("RolloutStalled", "RolloutResumed"))
	}, SpecTimeout(3*time.Minute))

	It("resumes a rollout where it was after the manager restarts, deleting no pod twice", func(ctx SpecContext) {
		stop := startManager(cp.Config, namespace)
		createStatefulSet(ctx, namespace, 6, appsv1.OnDeleteStatefulSetStrategyType)
		createRing(ctx, namespace, withRollout(2, drainSeconds, 0, 60))
		waitReady(ctx, namespace, 6)
		events := recordTimeline(ctx, namespace)

		updateStatefulSet(ctx, namespace, setEnv("VERSION", "2"))
		By("stopping the manager while batch 1 is Restarting")
		waitForStep(ctx, events, 1, v1alpha1.BatchRestarting)
		stop()
		time.Sleep(2 * time.Second) // the pods come back without a manager
		stop = startManager(cp.Config, namespace)

		By("stopping it again while batch 2 is Draining")
		waitForStep(ctx, events, 2, v1alpha1.BatchDraining)
		stop()
		startManager(cp.Config, namespace)

		waitReady(ctx, namespace, 6)
		By("each member's pod deleted once: no replacement deleted, no delete request repeated")
		var deleted []string
		for _, d := range events.deletions() {
			deleted = append(deleted, d.name)
		}
		Expect(deleted).To(ConsistOf("chat-0", "chat-1", "chat-2", "chat-3", "chat-4", "chat-5"))
		// A stopped manager may not see the answer to its last request, so deletions the API
		// server answered can be fewer than six, but never more than one per pod.
		Expect(deletes.in(namespace)).To(HaveEach(1))
		Expect(events.maxDown(6)).To(Equal(2))
		Expect(events.batches()).To(Equal([][]int32{{5, 4}, {3, 2}, {1, 0}}))
	}, SpecTimeout(3*time.Minute))
})

// waitForStep waits until the timeline has seen the StableRing's rollout at step of batch. The
// watch sees every status write, so a short step is not missed as a poll could miss it.
func waitForStep(ctx SpecContext, events *timeline, batch int32, step v1alpha1.BatchStep) {
	GinkgoHelper()
	Eventually(func() bool {
		return events.sawStep(batch, step)
	}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(20*time.Millisecond).Should(BeTrue(),
		"batch %d never reached step %s", batch, step)
}

// ordinalOf returns the ordinal of a pod of StatefulSet "chat".
func ordinalOf(pod string) int32 {
	for o := range int32(100) {
		if podName(o) == pod {
			return o
		}
	}
	Fail("not a pod of " + name + ": " + pod)
	return -1
}

package e2e_test

import (
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	"github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/test/e2e/harness"
)

var _ = Describe("The manager restarted mid-rollout", func() {
	const (
		replicas    = 6
		batchSize   = 2
		connections = 120
		rooms       = 24
	)

	It("resumes the rollout from status: every pod deleted once, never more than batchSize down", func(ctx SpecContext) {
		s := deploy(ctx, "e2e-manager", harness.RingOptions{BatchSize: batchSize, DrainSeconds: 3, HoldSeconds: 10, MaxConnectsPerSecond: 100})
		l := s.load(ctx, connections, rooms)
		DeferCleanup(func() { _, _ = l.Stop() })
		waitLive(l, connections)
		sts := &appsv1.StatefulSet{}
		Expect(cluster.Client.Get(ctx, s.app.Key(), sts)).To(Succeed())
		oldRevision := sts.Status.UpdateRevision

		By("rolling out, and deleting the manager's pod while the first batch is Restarting")
		s.rec.ResetMaxDown()
		Expect(cluster.TriggerRollout(ctx, s.app, "1")).To(Succeed())
		Eventually(func(g Gomega) {
			sr, err := cluster.Ring(ctx, s.app)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(sr.Status.Rollout).NotTo(BeNil())
			g.Expect(sr.Status.Rollout.Step).To(Equal(v1alpha1.BatchRestarting))
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(100 * time.Millisecond).Should(Succeed())
		manager, err := cluster.ManagerPod(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(cluster.Client.Delete(ctx, manager)).To(Succeed())
		Eventually(func(g Gomega) {
			m, err := cluster.ManagerPod(ctx)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(m.UID).NotTo(Equal(manager.UID))
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())

		By("the new manager completing the rollout")
		Expect(cluster.WaitRolloutComplete(ctx, s.app, replicas, 4*time.Minute)).To(Succeed(), s.describe())
		maxDown := s.rec.MaxDown()
		waitLive(l, connections) // the last batch's held connections are back
		time.Sleep(time.Second)
		sum, err := l.Stop()
		Expect(err).NotTo(HaveOccurred())
		msg := s.describe(sum)

		deleted := s.rec.Deleted()
		byOrdinal := map[int32][]types.UID{}
		for _, d := range deleted {
			byOrdinal[d.Ordinal] = append(byOrdinal[d.Ordinal], d.UID)
			Expect(d.Revision).To(Equal(oldRevision), "pod %s (%s) deleted at revision %s: %s", d.Pod, d.UID, d.Revision, msg)
		}
		Expect(byOrdinal).To(HaveLen(replicas), msg)
		for o, uids := range byOrdinal {
			Expect(uids).To(HaveLen(1), "ordinal %d: pods deleted %v: %s", o, uids, msg)
		}
		Expect(maxDown).To(BeNumerically("<=", batchSize), msg)
		Expect(sum.RoomsChangedOwner).To(BeZero(), msg)
		Expect(sum.RoomSplitSeconds).To(BeZero(), msg)
		for _, c := range sum.Clients {
			Expect(c.Reconnects).To(Equal(1), "connection %d (room %s, pods %v): %s", c.Index, c.Room, pods(c), msg)
		}
		report("manager restart", "manager pod %s deleted mid-batch; rollout completed with %d pods deleted once each, at most %d down at once, reconnects max %d",
			manager.Name, len(deleted), maxDown, sum.Reconnects.Max)
	}, SpecTimeout(5*time.Minute))
})

var _ = Describe("A gateway replica", func() {
	const (
		replicas    = 6
		connections = 120
		rooms       = 24
	)

	// goes takes the first gateway pod away (by how) and checks that exactly the connections it
	// held reconnect, once, to the same pods, and that no room changes owner or splits.
	goes := func(ctx SpecContext, namespace string, how func(gw *corev1.Pod)) {
		s := deploy(ctx, namespace, harness.RingOptions{BatchSize: 2, DrainSeconds: 4, HoldSeconds: 10, MaxConnectsPerSecond: 100})
		l := s.load(ctx, connections, rooms)
		DeferCleanup(func() { _, _ = l.Stop() })
		waitLive(l, connections)

		gateways, err := cluster.GatewayPods(ctx)
		Expect(err).NotTo(HaveOccurred())
		gw := gateways[0]
		held, err := harness.GatewayWebSockets(ctx, &gw)
		Expect(err).NotTo(HaveOccurred())
		Expect(held).To(And(BeNumerically(">", 0), BeNumerically("<", connections)), "gateway %s holds some of the connections, not all", gw.Name)
		how(&gw)
		waitLive(l, connections)
		time.Sleep(2 * time.Second)
		sum, err := l.Stop()
		Expect(err).NotTo(HaveOccurred())
		msg := s.describe(sum)

		Expect(sum.Reconnects.ByCount).To(Equal([4]int{connections - held, held, 0, 0}),
			"the %d connections through gateway %s reconnected once, the others not at all: %s", held, gw.Name, msg)
		Expect(sum.ConnectionsPodChanged).To(BeZero(), msg)
		Expect(sum.RoomsChangedOwner).To(BeZero(), msg)
		Expect(sum.RoomSplitSeconds).To(BeZero(), msg)
		report(namespace, "gateway %s went: the %d connections through it reconnected once, the %d others none; failed attempts while it was away %d",
			gw.Name, sum.Reconnects.ByCount[1], sum.Reconnects.ByCount[0], sum.ConnectErrors)
	}

	It("restarted reconnects only its own connections, once, to the same pods", func(ctx SpecContext) {
		goes(ctx, "e2e-gateway", func(gw *corev1.Pod) {
			By("restarting the first gateway's process (SIGTERM: graceful shutdown, then the kubelet restarts it in the same pod)")
			_, err := cluster.KillPodProcess(gw, syscall.SIGTERM)
			Expect(err).NotTo(HaveOccurred())
			Eventually(func(g Gomega) {
				p := &corev1.Pod{}
				g.Expect(cluster.Client.Get(ctx, podKey(*gw), p)).To(Succeed())
				g.Expect(p.Status.ContainerStatuses).To(ContainElement(HaveField("RestartCount", BeNumerically(">=", 1))))
				g.Expect(harness.PodReady(p)).To(BeTrue())
			}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
		})
	}, SpecTimeout(4*time.Minute))

	It("deleted is replaced by a pod with a new IP behind the Service, and only its connections reconnect, once", func(ctx SpecContext) {
		if cluster.Node != harness.NodeReal {
			Skip("clients reach the gateways through a Service only on the real node")
		}
		goes(ctx, "e2e-gateway-deleted", func(gw *corev1.Pod) {
			By("deleting the first gateway's pod: the Deployment makes a new one, with a new IP")
			Expect(cluster.Client.Delete(ctx, gw)).To(Succeed())
			Eventually(func() error {
				return cluster.Client.Get(ctx, podKey(*gw), &corev1.Pod{})
			}).WithContext(ctx).WithTimeout(time.Minute).Should(Satisfy(apierrors.IsNotFound), "the deleted pod is gone once its shutdown has closed every connection")
			Eventually(func(g Gomega) {
				pods, err := cluster.GatewayPods(ctx)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(pods).To(HaveLen(2))
				for _, p := range pods {
					g.Expect(p.Name).NotTo(Equal(gw.Name))
					g.Expect(p.Status.PodIP).NotTo(Equal(gw.Status.PodIP))
				}
			}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
		})
	}, SpecTimeout(4*time.Minute))
})

func podKey(p corev1.Pod) types.NamespacedName {
	return types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
}

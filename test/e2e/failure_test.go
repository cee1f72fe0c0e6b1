package e2e_test

import (
	"fmt"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/balancer"
	"github.com/stablering/stablering/test/e2e/harness"
)

// usableExcept is a balancer.Usable with one unusable ordinal.
type usableExcept int32

func (u usableExcept) Usable(o int32) bool { return o != int32(u) }

// jumpRing is the ring of ordinals 0..n-1 the gateways route by.
func jumpRing(n int32) balancer.Ring {
	GinkgoHelper()
	members := make([]int32, n)
	for i := range members {
		members[i] = int32(i)
	}
	r, err := balancer.New(balancer.Config{Algorithm: balancer.Jump, Members: members})
	Expect(err).NotTo(HaveOccurred())
	return r
}

var _ = Describe("A pod killed outside a rollout", func() {
	const (
		replicas    = 6
		connections = 180
		rooms       = 36
		holdSeconds = 4
		victim      = int32(0)
	)

	It("holds its rooms for holdSeconds, fails them over, and reunites them on the pod when it is back", func(ctx SpecContext) {
		s := deploy(ctx, "e2e-kill", harness.RingOptions{BatchSize: 2, DrainSeconds: 4, HoldSeconds: holdSeconds, MaxConnectsPerSecond: 100})
		l := s.load(ctx, connections, rooms)
		DeferCleanup(func() { _, _ = l.Stop() })
		waitLive(l, connections)
		ring := jumpRing(replicas)
		victimPod := fmt.Sprintf("chat-%d", victim)

		By("the pod turning unready (its readiness probes fail): its member goes Down")
		pod := corev1.Pod{}
		Expect(cluster.Client.Get(ctx, client.ObjectKey{Namespace: s.app.Namespace, Name: victimPod}, &pod)).To(Succeed())
		Expect(cluster.SetProbesPassing(ctx, &pod, harness.ChatPort, false)).To(Succeed())
		var downAt time.Time
		Eventually(func(g Gomega) {
			sr, err := cluster.Ring(ctx, s.app)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(sr.Members).To(ContainElement(And(HaveField("Ordinal", victim), HaveField("State", v1alpha1.MemberDown))))
			for _, m := range sr.Members {
				if m.Ordinal == victim && m.LastTransitionTime != nil {
					downAt = m.LastTransitionTime.Time
				}
			}
		}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		Expect(downAt.IsZero()).To(BeFalse(), "the Down member has a lastTransitionTime")

		By("its process being killed: its connections drop and are held, then fail over")
		_, err := cluster.KillPodProcess(&pod, syscall.SIGKILL)
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			placement, err := cluster.RoomPlacement(ctx, s.app)
			g.Expect(err).NotTo(HaveOccurred())
			for i := range rooms {
				room := fmt.Sprintf("room-%d", i)
				owner, _ := ring.Owner(room)
				if owner != victim {
					continue
				}
				failover, _ := ring.Pick(room, usableExcept(victim))
				g.Expect(placement[room]).To(Equal([]string{fmt.Sprintf("chat-%d", failover)}), "room %s failed over", room)
			}
		}).WithContext(ctx).WithTimeout(time.Duration(holdSeconds)*time.Second + 30*time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
		failedOverAfter := time.Since(downAt)
		// lastTransitionTime has a precision of one second.
		Expect(failedOverAfter).To(BeNumerically(">=", time.Duration(holdSeconds-1)*time.Second), "rooms were held for holdSeconds first")

		waitLive(l, connections) // every held connection has found the failover member

		By("the pod turning ready again: its rooms move back, paced")
		Expect(cluster.SetProbesPassing(ctx, &pod, harness.ChatPort, true)).To(Succeed())
		Expect(cluster.WaitRingServing(ctx, s.app, replicas, time.Minute)).To(Succeed())
		Eventually(func(g Gomega) {
			placement, err := cluster.RoomPlacement(ctx, s.app)
			g.Expect(err).NotTo(HaveOccurred())
			for i := range rooms {
				room := fmt.Sprintf("room-%d", i)
				owner, _ := ring.Owner(room)
				g.Expect(placement[room]).To(Equal([]string{fmt.Sprintf("chat-%d", owner)}), "room %s is whole on its owner", room)
			}
		}).WithContext(ctx).WithTimeout(30 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
		waitLive(l, connections)
		time.Sleep(time.Second)
		sum, err := l.Stop()
		Expect(err).NotTo(HaveOccurred())
		msg := s.describe(sum)

		affected, held := 0, 0
		for _, c := range sum.Clients {
			owner, _ := ring.Owner(c.Room)
			if owner != victim {
				Expect(c.Reconnects).To(BeZero(), "connection %d of room %s (pods %v) is not the killed pod's: %s", c.Index, c.Room, pods(c), msg)
				continue
			}
			affected++
			held += c.HeldAnswers
			failover, _ := ring.Pick(c.Room, usableExcept(victim))
			Expect(pods(c)).To(Equal([]string{victimPod, fmt.Sprintf("chat-%d", failover), victimPod}),
				"connection %d of room %s: owner, failover member, owner again: %s", c.Index, c.Room, msg)
		}
		Expect(affected).To(BeNumerically(">", 0), msg)
		Expect(held).To(BeNumerically(">", 0), "the killed pod's rooms were held before failing over: %s", msg)
		Expect(sum.RoomsChangedOwner).To(BeZero(), msg)
		report("pod killed", "%d connections of the killed pod: held %d times, failed over after %s, reunited on %s; room-split seconds during the paced reunion %.2f",
			affected, held, failedOverAfter.Round(100*time.Millisecond), victimPod, sum.RoomSplitSeconds)
	}, SpecTimeout(4*time.Minute))
})

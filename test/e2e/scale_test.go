package e2e_test

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/stablering/stablering/test/e2e/harness"
)

var _ = Describe("Scaling 6 -> 8 -> 5", func() {
	const (
		connections = 240
		rooms       = 120
	)

	It("moves only the rooms whose owner changes on the ring of ordinals, to their new owner", func(ctx SpecContext) {
		s := deploy(ctx, "e2e-scale", harness.RingOptions{BatchSize: 2, DrainSeconds: 4, HoldSeconds: 10, MaxConnectsPerSecond: 100})
		l := s.load(ctx, connections, rooms)
		DeferCleanup(func() { _, _ = l.Stop() })
		waitLive(l, connections)

		owners := func(n int32) map[string]string {
			ring := jumpRing(n)
			out := map[string]string{}
			for i := range rooms {
				room := fmt.Sprintf("room-%d", i)
				o, _ := ring.Owner(room)
				out[room] = fmt.Sprintf("chat-%d", o)
			}
			return out
		}
		// placed waits until every room is on exactly its expected owner and every connection
		// is live, and returns how many rooms moved from before.
		placed := func(before, after map[string]string) int {
			GinkgoHelper()
			Eventually(func(g Gomega) {
				placement, err := cluster.RoomPlacement(ctx, s.app)
				g.Expect(err).NotTo(HaveOccurred())
				for room, owner := range after {
					g.Expect(placement[room]).To(Equal([]string{owner}), "room %s", room)
				}
				g.Expect(l.Latest().Live).To(Equal(connections))
			}).WithContext(ctx).WithTimeout(90 * time.Second).WithPolling(time.Second).Should(Succeed())
			moved := 0
			for room := range after {
				if before[room] != after[room] {
					moved++
				}
			}
			return moved
		}
		six, eight, five := owners(6), owners(8), owners(5)
		placed(nil, six)

		By("scaling to 8")
		Expect(cluster.Scale(ctx, s.app, 8)).To(Succeed())
		Expect(cluster.WaitRingServing(ctx, s.app, 8, 2*time.Minute)).To(Succeed())
		up := placed(six, eight)
		report("scale 6->8", "%d of %d rooms moved (%.1f%%; Jump's ideal share 2/8 = 25%%)", up, rooms, 100*float64(up)/rooms)
		Expect(float64(up) / rooms).To(BeNumerically("<=", 2.0/8+0.1))

		By("scaling to 5")
		Expect(cluster.Scale(ctx, s.app, 5)).To(Succeed())
		Expect(cluster.WaitRingServing(ctx, s.app, 5, 2*time.Minute)).To(Succeed())
		down := placed(eight, five)
		report("scale 8->5", "%d of %d rooms moved (%.1f%%; the removed members' share 3/8 = 37.5%%)", down, rooms, 100*float64(down)/rooms)
		Expect(float64(down) / rooms).To(BeNumerically("<=", 3.0/8+0.1))

		time.Sleep(time.Second)
		sum, err := l.Stop()
		Expect(err).NotTo(HaveOccurred())
		msg := s.describe(sum)
		// Members join when their pod is first Ready: 6 and 7 may join together (6 -> 8) or one
		// after the other (6 -> 7 -> 8), and with Jump a room moves at most once per step, only
		// to the joining member, so a room whose owner is the same on 6 and 8 members never
		// moves. The scale down removes 5, 6 and 7 at once.
		seven := owners(7)
		for _, c := range sum.Clients {
			least, most := 0, 0
			if six[c.Room] != eight[c.Room] {
				least++
				most++
				if six[c.Room] != seven[c.Room] && seven[c.Room] != eight[c.Room] {
					most++
				}
			}
			if eight[c.Room] != five[c.Room] {
				least++
				most++
			}
			Expect(c.Reconnects).To(BeNumerically(">=", least), "connection %d of room %s (owners %s, %s, %s, %s; pods %v): %s",
				c.Index, c.Room, six[c.Room], seven[c.Room], eight[c.Room], five[c.Room], pods(c), msg)
			Expect(c.Reconnects).To(BeNumerically("<=", most), "connection %d of room %s (owners %s, %s, %s, %s; pods %v): %s",
				c.Index, c.Room, six[c.Room], seven[c.Room], eight[c.Room], five[c.Room], pods(c), msg)
		}
	}, SpecTimeout(5*time.Minute))
})

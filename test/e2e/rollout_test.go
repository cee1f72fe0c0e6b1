package e2e_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"

	"github.com/stablering/stablering/test/e2e/harness"
)

var _ = Describe("A paced rollout under load", Ordered, func() {
	const (
		replicas    = 6
		batchSize   = 2
		connections = 600
		rooms       = 60
	)

	It("restarts every pod once, batchSize at a time, with one reconnect per connection, no room moved or split; IP-keyed hashing in the same run moves rooms", func(ctx SpecContext) {
		s := deploy(ctx, "e2e-rollout", harness.RingOptions{BatchSize: batchSize, DrainSeconds: 4, HoldSeconds: 10, MaxConnectsPerSecond: 100})
		baseline, err := cluster.StartBaseline(ctx, s.app)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(baseline.Stop)

		srLoad := s.load(ctx, connections, rooms)
		ipLoad := harness.StartLoad(ctx, harness.LoadConfig([]string{baseline.URL("ip-")}, connections, rooms))
		DeferCleanup(func() { _, _ = srLoad.Stop(); _, _ = ipLoad.Stop() })
		waitLive(srLoad, connections)
		waitLive(ipLoad, connections)

		sts := &appsv1.StatefulSet{}
		Expect(cluster.Client.Get(ctx, s.app.Key(), sts)).To(Succeed())
		oldRevision := sts.Status.UpdateRevision
		Expect(oldRevision).NotTo(BeEmpty())

		By("rolling out a new pod template")
		s.rec.ResetMaxDown()
		start := time.Now()
		Expect(cluster.TriggerRollout(ctx, s.app, "1")).To(Succeed())
		Expect(cluster.WaitRolloutComplete(ctx, s.app, replicas, 4*time.Minute)).To(Succeed(), s.describe())
		rolloutTook := time.Since(start)
		maxDown := s.rec.MaxDown()
		waitLive(srLoad, connections) // the last batch's held connections are back
		waitLive(ipLoad, connections)
		time.Sleep(time.Second)
		sr, err := srLoad.Stop()
		Expect(err).NotTo(HaveOccurred())
		ip, err := ipLoad.Stop()
		Expect(err).NotTo(HaveOccurred())
		msg := s.describe(sr, ip)
		report("rollout", "took %s, at most %d pods down at once; StableRing: reconnects mean %.2f max %d, rooms changed owner %d, split-s %.2f, peak disconnects %.1f%%, held %d, lost %d; IP-keyed: reconnects mean %.2f max %d, rooms changed owner %d, split-s %.2f, peak disconnects %.1f%%",
			rolloutTook.Round(100*time.Millisecond), maxDown, sr.Reconnects.Mean, sr.Reconnects.Max, sr.RoomsChangedOwner, sr.RoomSplitSeconds,
			100*sr.PeakDisconnects.Share, sr.HeldAnswers, sr.Messages.Lost,
			ip.Reconnects.Mean, ip.Reconnects.Max, ip.RoomsChangedOwner, ip.RoomSplitSeconds, 100*ip.PeakDisconnects.Share)

		By("deleting every pod exactly once, at the old revision, batchSize at a time")
		deleted := s.rec.Deleted()
		byOrdinal := map[int32]int{}
		for _, d := range deleted {
			byOrdinal[d.Ordinal]++
			Expect(d.Revision).To(Equal(oldRevision), "pod %s (%s) was deleted at revision %s: %s", d.Pod, d.UID, d.Revision, msg)
		}
		Expect(byOrdinal).To(HaveLen(replicas), msg)
		for o, n := range byOrdinal {
			Expect(n).To(Equal(1), "ordinal %d deleted %d times: %s", o, n, msg)
		}
		Expect(maxDown).To(BeNumerically("<=", batchSize), "pods down at once: %s", msg)
		Expect(maxDown).To(BeNumerically(">", 0), msg)
		batched := map[int32]bool{}
		for _, b := range s.rec.Batches() {
			Expect(len(b.Members)).To(BeNumerically("<=", batchSize), "batch %d: %s", b.Number, msg)
			for _, m := range b.Members {
				Expect(batched).NotTo(HaveKey(m), "member %d in two batches: %s", m, msg)
				batched[m] = true
			}
		}
		Expect(batched).To(HaveLen(replicas), msg)

		By("StableRing: one reconnect per connection whose pod restarted, none for the rest; no room moved or split")
		restarted := map[string]bool{}
		for _, d := range deleted {
			restarted[d.Pod] = true
		}
		Expect(sr.NeverConnected).To(BeZero(), msg)
		for _, c := range sr.Clients {
			want := 0
			if restarted[firstPod(c)] {
				want = 1
			}
			Expect(c.Reconnects).To(Equal(want), "connection %d (room %s, pods %v): %s", c.Index, c.Room, pods(c), msg)
		}
		Expect(sr.ConnectionsPodChanged).To(BeZero(), msg)
		Expect(sr.RoomsChangedOwner).To(BeZero(), msg)
		Expect(sr.RoomSplitSeconds).To(BeZero(), msg)
		Expect(sr.PeakDisconnects.Share).To(BeNumerically("<=", float64(batchSize)/replicas+0.05), msg)

		By("IP-keyed hashing, same pods, same rollout: rooms change owner")
		Expect(ip.RoomsChangedOwner).To(BeNumerically(">", 0), msg)
	}, SpecTimeout(6*time.Minute))
})

package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"

	"github.com/stablering/stablering/test/e2e/harness"
)

var _ = Describe("A paced rollout with resume on", Ordered, func() {
	const (
		replicas    = 6
		batchSize   = 2
		connections = 600
		rooms       = 60
	)

	It("restarts every pod with no client-visible disconnect, no message lost, duplicated or out of order, no room moved or split", func(ctx SpecContext) {
		if cluster.Real == nil {
			Skip("the chat pods keep their rooms in a directory of the node (hostPath), which the simulated node does not give them")
		}
		stateDir, removeStateDir, err := harness.ChatStateDir()
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(removeStateDir)

		s := deploy(ctx, "e2e-resume", harness.RingOptions{BatchSize: batchSize, DrainSeconds: 4, HoldSeconds: 10,
			MaxConnectsPerSecond: 100, Resume: harness.ResumeOptions(), StateDir: stateDir})
		load := s.load(ctx, connections, rooms)
		DeferCleanup(func() { _, _ = load.Stop() })
		waitLive(load, connections)
		watchers := watchRooms(ctx, s, rooms)
		DeferCleanup(func() { watchers.stop() })

		By("rolling out a new pod template")
		start := time.Now()
		Expect(cluster.TriggerRollout(ctx, s.app, "1")).To(Succeed())
		Expect(cluster.WaitRolloutComplete(ctx, s.app, replicas, 4*time.Minute)).To(Succeed(), s.describe())
		rolloutTook := time.Since(start)
		// The last batch's connections are resumed once the gateways see its members Serving,
		// which on a busy machine can be seconds after the rollout completes; then the messages
		// held through it come back.
		awaitResumes(ctx, s, connections+rooms, time.Minute)
		time.Sleep(5 * time.Second)
		watched := watchers.stop()
		sum, err := load.Stop()
		Expect(err).NotTo(HaveOccurred())
		msg := s.describe(sum) + watched.String() + resumeFailureLogs(ctx)
		resumed, failed := resumeCounts(ctx, s)
		report("resume", "took %s; StableRing with resume: reconnects %d, disconnects %d, messages lost %d (%d unconfirmed); "+
			"rooms changed owner %d, split-s %.2f; watchers: %d messages in %d rooms, gaps %d, repeats %d, disconnects %d; "+
			"gateways: %d resumed, %d failed",
			rolloutTook.Round(100*time.Millisecond), sum.Reconnects.Total, sum.Disconnects, sum.Messages.Lost,
			sum.Messages.Unconfirmed, sum.RoomsChangedOwner, sum.RoomSplitSeconds, watched.messages, rooms,
			watched.gaps, watched.repeats, watched.disconnects, resumed, failed)

		By("every pod restarted once")
		restarted := map[int32]int{}
		for _, d := range s.rec.Deleted() {
			restarted[d.Ordinal]++
		}
		Expect(restarted).To(HaveLen(replicas), msg)

		By("no client saw a disconnect, and none lost a message")
		Expect(sum.NeverConnected).To(BeZero(), msg)
		Expect(sum.Reconnects.Total).To(BeZero(), msg)
		Expect(sum.Disconnects).To(BeZero(), msg)
		Expect(sum.Messages.Lost).To(BeZero(), msg)

		By("every room's messages reached its watcher once each, in order")
		Expect(watched.disconnects).To(BeZero(), msg)
		Expect(watched.gaps).To(BeZero(), msg)
		Expect(watched.repeats).To(BeZero(), msg)
		Expect(watched.messages).To(BeNumerically(">", 0), msg)

		By("the gateways resumed every connection once, the watchers' too, and no resume failed")
		Expect(resumed).To(Equal(connections+rooms), msg)
		Expect(failed).To(BeZero(), msg)

		By("no room moved or split")
		Expect(sum.RoomsChangedOwner).To(BeZero(), msg)
		Expect(sum.RoomSplitSeconds).To(BeZero(), msg)
	}, SpecTimeout(7*time.Minute))
})

// awaitResumes waits, up to timeout, until the gateways have resumed or failed to resume want
// connections of the scenario's ring.
func awaitResumes(ctx context.Context, s *scenario, want int, timeout time.Duration) {
	GinkgoHelper()
	for end := time.Now().Add(timeout); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		if resumed, failed := resumeCounts(ctx, s); resumed+failed >= want {
			return
		}
	}
}

// resumeFailureLogs returns the gateways' log lines about failed resumes, which say why.
func resumeFailureLogs(ctx context.Context) string {
	gateways, err := cluster.GatewayPods(ctx)
	if err != nil {
		return "gateway pods: " + err.Error()
	}
	var b strings.Builder
	for _, gw := range gateways {
		raw, err := cluster.Kube.CoreV1().Pods(gw.Namespace).GetLogs(gw.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
		if err != nil {
			fmt.Fprintf(&b, "%s: logs: %v\n", gw.Name, err)
			continue
		}
		for line := range strings.SplitSeq(string(raw), "\n") {
			if strings.Contains(line, "resume failed") {
				fmt.Fprintf(&b, "%s: %s\n", gw.Name, line)
			}
		}
	}
	return b.String()
}

// resumeCounts sums the resumes and failed resumes of the scenario's ring over the gateways.
func resumeCounts(ctx context.Context, s *scenario) (resumed, failed int) {
	GinkgoHelper()
	gateways, err := cluster.GatewayPods(ctx)
	Expect(err).NotTo(HaveOccurred())
	ring := map[string]string{"ring": s.app.Namespace + "/" + s.app.Name}
	for _, gw := range gateways {
		ok, err := harness.GatewayMetric(ctx, &gw, "stablering_gateway_resumes_total",
			map[string]string{"ring": ring["ring"], "result": "resumed"})
		Expect(err).NotTo(HaveOccurred())
		bad, err := harness.GatewayMetric(ctx, &gw, "stablering_gateway_resume_failures_total", ring)
		Expect(err).NotTo(HaveOccurred())
		resumed, failed = resumed+int(ok), failed+int(bad)
	}
	return resumed, failed
}

// watchers are one silent client per room, reading every message of its room through the
// gateways and checking the room's seq: each message one more than the last.
type watchers struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	result watched
	done   bool
}

// watched is what the watchers saw.
type watched struct {
	messages, gaps, repeats, disconnects int
	notes                                []string
}

func (w watched) String() string {
	if len(w.notes) == 0 {
		return ""
	}
	return "\nwatchers: " + strings.Join(w.notes, "; ")
}

// watchRooms starts a watcher in each of the load's rooms (the load generator's room names,
// room-0 to room-N), alternating over the gateways.
func watchRooms(ctx context.Context, s *scenario, rooms int) *watchers {
	GinkgoHelper()
	ctx, cancel := context.WithCancel(ctx)
	w := &watchers{cancel: cancel}
	for i := range rooms {
		url := fmt.Sprintf("ws://%s/ws?room=room-%d", s.addrs[i%len(s.addrs)], i)
		dialCtx, stop := context.WithTimeout(ctx, 10*time.Second)
		conn, _, err := websocket.Dial(dialCtx, url, &websocket.DialOptions{Host: s.host}) //nolint:bodyclose // Dial handles it
		stop()
		Expect(err).NotTo(HaveOccurred(), "watcher of room-%d", i)
		w.wg.Go(func() { w.watch(ctx, conn, i) })
	}
	return w
}

// watch reads conn until ctx ends, counting messages, gaps and repeats of the room's seq.
func (w *watchers) watch(ctx context.Context, conn *websocket.Conn, room int) {
	defer func() { _ = conn.CloseNow() }()
	var last uint64
	for first := true; ; first = false {
		_, data, err := conn.Read(ctx)
		if err != nil {
			if ctx.Err() == nil {
				w.note(func(r *watched) {
					r.disconnects++
					r.notes = append(r.notes, fmt.Sprintf("room-%d closed: %v", room, err))
				})
			}
			return
		}
		var m struct {
			Type string `json:"type"`
			Seq  uint64 `json:"seq"`
		}
		_ = json.Unmarshal(data, &m)
		switch {
		case first:
			last = m.Seq // the welcome
		case m.Seq == last+1:
			last = m.Seq
			w.note(func(r *watched) { r.messages++ })
		case m.Seq <= last:
			w.note(func(r *watched) {
				r.repeats++
				r.notes = append(r.notes, fmt.Sprintf("room-%d: seq %d after %d", room, m.Seq, last))
			})
		default:
			w.note(func(r *watched) {
				r.gaps++
				r.notes = append(r.notes, fmt.Sprintf("room-%d: seq %d after %d", room, m.Seq, last))
			})
			last = m.Seq
		}
	}
}

func (w *watchers) note(f func(*watched)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		f(&w.result)
	}
}

// stop ends the watchers and returns what they saw; later calls return the same.
func (w *watchers) stop() watched {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
	w.cancel()
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.result
}

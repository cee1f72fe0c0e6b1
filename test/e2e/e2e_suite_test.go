// Package e2e runs StableRing end to end: the real manager and gateways, with the RBAC of their
// service accounts, in front of the chat example, on a real node (a kubelet with containerd, the
// chart installed with helm, clients through the gateway Service) where it can run, else on a
// simulated one (see package harness). Each scenario deploys its own chat StatefulSet and
// StableRing in a namespace of its own, routed by a Host of its own, puts WebSocket load on it
// through the gateways and asserts on the load generator's summary and the recorded timeline.
package e2e_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/stablering/stablering/cmd/stablering/loadgen"
	"github.com/stablering/stablering/test/controlplane"
	"github.com/stablering/stablering/test/e2e/harness"
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "E2E Suite")
}

var cluster *harness.Cluster

var _ = BeforeSuite(func(ctx SpecContext) {
	logf.SetLogger(GinkgoLogr)
	if reason := controlplane.SkipReason(); reason != "" {
		Skip(reason)
	}
	var err error
	cluster, err = harness.Start(ctx, harness.Options{
		Log:      GinkgoLogr.V(1),
		Progress: func(s string) { GinkgoWriter.Println(s) },
	})
	Expect(err).NotTo(HaveOccurred())
	GinkgoWriter.Printf("node: %s\n", cluster.Node)
	DeferCleanup(func(ctx SpecContext) {
		Expect(cluster.Stop()).To(Succeed())
		Expect(cluster.Leftovers(ctx)).To(BeEmpty(), "the suite leaves nothing behind")
	})
	Expect(cluster.Install(ctx)).To(Succeed())
}, NodeTimeout(5*time.Minute))

// scenario is one deployed chat app with its ring options and Host.
type scenario struct {
	app   harness.App
	host  string
	opts  harness.RingOptions
	rec   *harness.Recorder
	addrs []string
}

// deploy creates a chat StatefulSet of 6 pods and its StableRing in namespace name,
// routed by Host <name>.e2e.test, records it, and deletes it when the spec ends.
func deploy(ctx context.Context, name string, opts harness.RingOptions) *scenario {
	GinkgoHelper()
	const replicas = 6
	s := &scenario{app: harness.App{Namespace: name, Name: "chat"}, host: name + ".e2e.test", opts: opts}
	s.opts.Hosts = []string{s.host}
	Expect(cluster.DeployChat(ctx, s.app, replicas, s.opts)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		Expect(cluster.DeleteChat(ctx, s.app)).To(Succeed())
	}, NodeTimeout(time.Minute))
	var err error
	s.rec, err = cluster.Record(ctx, s.app, replicas, func(r harness.RingSample) {
		GinkgoWriter.Printf("%6.1fs %s\n", r.At.Seconds(), r.Line)
	})
	Expect(err).NotTo(HaveOccurred())
	s.addrs, err = cluster.GatewayAddrs(ctx)
	Expect(err).NotTo(HaveOccurred())
	Expect(s.addrs).NotTo(BeEmpty())
	return s
}

// load starts connections over rooms through the gateways (connection i through address i mod
// the number of addresses) with the scenario's Host.
func (s *scenario) load(ctx context.Context, connections, rooms int) *harness.Load {
	cfg := harness.LoadConfig(harness.GatewayURLs(s.addrs), connections, rooms)
	cfg.Host = s.host
	return harness.StartLoad(ctx, cfg)
}

// waitLive waits until all connections of l are live.
func waitLive(l *harness.Load, connections int) {
	GinkgoHelper()
	Eventually(func() int { return l.Latest().Live }).WithTimeout(time.Minute).WithPolling(500*time.Millisecond).
		Should(Equal(connections), "every connection is live")
}

// describe formats a summary (without its per-second and per-connection records) and the
// scenario's timeline for failure messages.
func (s *scenario) describe(sums ...*loadgen.Summary) string {
	var b strings.Builder
	for _, sum := range sums {
		if sum != nil {
			_ = sum.WriteText(&b)
			b.WriteString("\n")
		}
	}
	if s.rec != nil {
		b.WriteString(s.rec.Timeline())
	}
	return b.String()
}

// firstPod returns the pod that first welcomed c.
func firstPod(c loadgen.ClientRecord) string {
	if len(c.Pods) == 0 {
		return ""
	}
	return c.Pods[0].Pod
}

func pods(c loadgen.ClientRecord) []string {
	out := make([]string, len(c.Pods))
	for i, p := range c.Pods {
		out[i] = p.Pod
	}
	return out
}

func report(name string, format string, args ...any) {
	AddReportEntry(name, fmt.Sprintf(format, args...))
}

package nodesim_test

import (
	"context"
	"os"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/kubernetes"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/stablering/stablering/test/controlplane"
	"github.com/stablering/stablering/test/nodesim"
)

func TestNodeSim(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "NodeSim Suite")
}

var (
	sim       *nodesim.Simulator
	processes *nodesim.ProcessRuntime
	clients   kubernetes.Interface
)

var _ = BeforeSuite(func(ctx SpecContext) {
	logf.SetLogger(GinkgoLogr)
	if reason := controlplane.SkipReason(); reason != "" {
		Skip(reason)
	}
	cp, err := controlplane.Start(ctx, controlplane.Options{})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(cp.Stop)
	clients, err = kubernetes.NewForConfig(cp.Config)
	Expect(err).NotTo(HaveOccurred())

	logDir, err := os.MkdirTemp("", "nodesim-logs-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, logDir)
	processes, err = nodesim.NewProcessRuntime(nodesim.ProcessOptions{
		Images:                   map[string]string{nodesim.EchoImage: nodesim.EchoServer()},
		LogDir:                   logDir,
		ServiceAccountKubeconfig: cp.ImpersonatingKubeconfig,
		Client:                   clients,
		RestartBackoff:           500 * time.Millisecond,
		Log:                      GinkgoLogr.WithName("processes"),
	})
	Expect(err).NotTo(HaveOccurred())
	sim, err = nodesim.New(cp.Config, nodesim.Options{
		MaxGrace:    time.Minute, // the pods' own terminationGracePeriodSeconds applies
		ProbePeriod: 200 * time.Millisecond,
		Runtime:     processes, // pods of other images than the echoserver's run nothing
		Log:         GinkgoLogr.WithName("nodesim"),
	})
	Expect(err).NotTo(HaveOccurred())
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sim.Run(runCtx) }()
	DeferCleanup(func() {
		stop()
		Expect(<-done).To(Succeed())
	})
}, NodeTimeout(2*time.Minute))

package controlplane

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

func TestControlPlane(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "ControlPlane Suite")
}

var cp *ControlPlane

var _ = BeforeSuite(func(ctx SpecContext) {
	logf.SetLogger(GinkgoLogr)
	if reason := SkipReason(); reason != "" {
		Skip(reason)
	}
	start := time.Now()
	var err error
	cp, err = Start(ctx, Options{APIServerFlags: map[string]string{"event-ttl": "5m0s"}})
	Expect(err).NotTo(HaveOccurred())
	GinkgoWriter.Printf("control plane started in %s\n", time.Since(start).Round(time.Millisecond))
	DeferCleanup(stopLeavingNoProcesses, cp)
}, NodeTimeout(2*time.Minute))

// stopLeavingNoProcesses stops c and checks that etcd, kube-apiserver and kube-controller-manager
// are gone and so is the temporary directory.
func stopLeavingNoProcesses(c *ControlPlane) {
	marks := map[string]string{
		"etcd":                    c.env.ControlPlane.Etcd.DataDir,
		"kube-apiserver":          c.env.ControlPlane.APIServer.CertDir,
		"kube-controller-manager": c.dir,
	}
	dir := c.dir
	for name, mark := range marks {
		Expect(processesMentioning(mark)).NotTo(BeEmpty(), "%s runs before Stop", name)
	}
	Expect(c.Stop()).To(Succeed())
	Expect(c.Stop()).To(Succeed(), "Stop is idempotent")
	for name, mark := range marks {
		Expect(processesMentioning(mark)).To(BeEmpty(), "%s is gone after Stop", name)
	}
	Expect(dir).NotTo(BeADirectory())
}

// processesMentioning returns the pids of this process's children whose command line contains s
// (Linux /proc). Other test binaries may run control planes of their own at the same time.
func processesMentioning(s string) []int {
	cmdlines, err := filepath.Glob("/proc/[0-9]*/cmdline")
	Expect(err).NotTo(HaveOccurred())
	var pids []int
	for _, path := range cmdlines {
		cmdline, err := os.ReadFile(path)
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
		if err == nil && bytes.Contains(cmdline, []byte(s)) && parentPID(pid) == os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

// parentPID reads the parent's pid from /proc/<pid>/stat: "pid (comm) state ppid ...".
func parentPID(pid int) int {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(fields[1])
	return ppid
}

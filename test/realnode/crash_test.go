package realnode

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stablering/stablering/test/images"
)

// TestStartUndoesADeadRun kills a run with a pod running, as if the process that started it had
// died (its processes killed, its lock released, no Stop), and checks that the next Start undoes
// it: the container and containerd's shim it left, its mounts, cgroups, bridge, tables and
// chains, and its run directory.
func TestStartUndoesADeadRun(t *testing.T) {
	g := NewWithT(t)
	ctx := t.Context()
	opts := testOptions(t)
	dead, err := Start(ctx, opts)
	g.Expect(err).NotTo(HaveOccurred())
	pods := dead.Kube.CoreV1().Pods(metav1.NamespaceDefault)
	_, err = pods.Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "sleeper"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "pause", Image: dead.Images[PauseImage.Name]}}},
	}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Eventually(func() corev1.PodPhase {
		p, err := pods.Get(ctx, "sleeper", metav1.GetOptions{})
		if err != nil {
			return ""
		}
		return p.Status.Phase
	}).WithTimeout(time.Minute).WithPolling(200 * time.Millisecond).Should(Equal(corev1.PodRunning))
	g.Expect(dead.snap.processes()).NotTo(BeEmpty(), "the pod's container and its shim belong to the run")
	g.Expect(mountsUnder(dead.Dir)).NotTo(BeEmpty())

	// The starting process dies: its children die with it (Pdeathsig), the lock goes with its
	// descriptor, nothing else happens.
	for name, p := range dead.procs {
		g.Expect(syscall.Kill(p.Pid(), syscall.SIGKILL)).To(Succeed(), name)
		<-p.Done()
	}
	g.Expect(dead.lock.Close()).To(Succeed())
	g.Expect(dead.Leftovers(context.Background())).NotTo(BeEmpty(), "a dead run leaves its containers, mounts and network")

	next, err := Start(ctx, opts)
	g.Expect(err).NotTo(HaveOccurred())
	stopped := false
	defer func() {
		if !stopped {
			g.Expect(next.Stop()).To(Succeed())
		}
	}()
	g.Expect(dead.snap.processes()).To(BeEmpty(), "the next Start killed the dead run's container and shim")
	g.Expect(mountsUnder(dead.Dir)).To(BeEmpty(), "and unmounted its mounts")
	g.Expect(dead.Dir).NotTo(BeAnExistingFile(), "and removed its run directory")
	stopped = true
	g.Expect(next.Stop()).To(Succeed())
	// Only now: the next run's kubelet and kube-proxy make tables and chains of the same names.
	g.Expect(dead.Leftovers(context.Background())).To(BeEmpty(), "nothing of the dead run is left")
	g.Expect(next.Leftovers(context.Background())).To(BeEmpty(), "nor of the next")
	_, err = os.Stat(statePath())
	g.Expect(os.IsNotExist(err)).To(BeTrue(), "no state file once the run stopped")
}

// testOptions returns the Options of a run with imgs besides the pause image, or skips the
// test when the node cannot run here (see SkipReason).
func testOptions(t *testing.T, imgs ...images.Image) Options {
	t.Helper()
	if reason := SkipReason(); reason != "" {
		t.Skip(reason)
	}
	binDir, regBinary, err := Binaries("")
	if err != nil {
		t.Fatal(err)
	}
	root, err := images.ModuleRoot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return Options{ModuleRoot: root, BinDir: binDir, Registry: regBinary, Images: imgs, Log: testr.New(t)}
}

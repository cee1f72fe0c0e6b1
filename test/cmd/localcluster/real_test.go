package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stablering/stablering/test/realnode"
)

// TestRealNodeCommand runs `localcluster --node=real` as the user guide says (the command, then
// `source .localcluster/env` and `kubectl get nodes -o wide` in another shell), stops it with
// Ctrl-C (SIGINT) and checks that it exits cleanly (it fails when anything is left behind) and
// removes its kubeconfig and env files.
func TestRealNodeCommand(t *testing.T) {
	if reason := realnode.SkipReason(); reason != "" {
		t.Skip(reason)
	}
	dir := t.TempDir()
	exe := filepath.Join(dir, "localcluster")
	if out, err := exec.Command("go", "build", "-o", exe, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	kubeconfig, env := filepath.Join(dir, ".localcluster", "kubeconfig"), filepath.Join(dir, ".localcluster", "env")
	cmd := exec.Command(exe, "--node=real", "--kubeconfig-out="+kubeconfig, "--env-out="+env,
		"--log-dir="+filepath.Join(dir, "logs"), "--crds="+filepath.Join("..", "..", "..", "config", "crd", "bases"))
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	running := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			t.Log(sc.Text())
			if strings.HasPrefix(sc.Text(), "Real node running") {
				close(running)
			}
		}
		exited <- cmd.Wait()
	}()
	select {
	case <-running:
	case err := <-exited:
		t.Fatalf("localcluster --node=real exited before it ran: %v", err)
	case <-time.After(4 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("localcluster --node=real did not start within 4 minutes")
	}

	out, err := exec.Command("sh", "-c", `. "$1" && kubectl get nodes -o wide && kubectl get crd stablerings.ring.stablering.io -o name`, "sh", env).CombinedOutput()
	if err != nil {
		t.Errorf("kubectl through %s: %v\n%s", env, err, out)
	}
	if !strings.Contains(string(out), realnode.NodeName+"   Ready") {
		t.Errorf("kubectl get nodes does not show node %s Ready:\n%s", realnode.NodeName, out)
	}
	if !strings.Contains(string(out), "customresourcedefinition.apiextensions.k8s.io/stablerings.ring.stablering.io") {
		t.Errorf("the StableRing CRD is not installed:\n%s", out)
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("localcluster --node=real did not stop cleanly: %v", err)
		}
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("localcluster --node=real did not stop within 3 minutes of SIGINT")
	}
	for _, f := range []string{kubeconfig, env} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s is still there after the cluster stopped", f)
		}
	}
}

package guide_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stablering/stablering/controllers"
	"github.com/stablering/stablering/test/controlplane"
	"github.com/stablering/stablering/test/nodesim"
)

const (
	migrationGuidePath = "../../docs/migrate-from-ingress-nginx.md"
	migrationSection   = "Walk one Ingress over"
)

// TestMigrationGuide follows "Walk one Ingress over" of the migration guide, its rollback
// included, in a copy of the repository: against a control plane with the StableRing manager and
// a simulated node running in this process (standing in for an installed StableRing), with the
// stablering command built from the copy on the PATH, as the guide assumes.
func TestMigrationGuide(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	if reason := controlplane.SkipReason(); reason != "" {
		t.Skip(reason)
	}
	guide, err := os.ReadFile(migrationGuidePath)
	if err != nil {
		t.Fatal(err)
	}
	steps, err := parseSteps(string(guide), migrationSection)
	if err != nil {
		t.Fatal(err)
	}
	dir := cloneRepository(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	cp, err := controlplane.Start(ctx, controlplane.Options{CRDPaths: []string{filepath.Join(dir, "config", "crd", "bases")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cp.Stop(); err != nil {
			t.Error(err)
		}
	})
	sim, err := nodesim.New(cp.Config, nodesim.Options{ReadyDelay: 200 * time.Millisecond, MaxGrace: time.Second, ProbePeriod: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := controllers.NewManager(ctx, cp.Config, controllers.ManagerOptions{MetricsBindAddress: "0", HealthProbeBindAddress: "0"})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 2)
	go func() { done <- sim.Run(runCtx) }()
	go func() { done <- mgr.Start(runCtx) }()
	t.Cleanup(func() {
		stop()
		for range 2 {
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	})

	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "stablering"), "./cmd/stablering")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/stablering: %v\n%s", err, out)
	}
	env := slices.DeleteFunc(readerEnv(t), func(kv string) bool {
		return strings.HasPrefix(kv, "KUBECONFIG=") || strings.HasPrefix(kv, "PATH=")
	})
	env = append(env, "KUBECONFIG="+cp.KubeconfigPath, "PATH="+bin+string(os.PathListSeparator)+cp.BinDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	r := &reader{t: t, dir: dir, env: env, terminals: map[string]*terminal{}}
	defer r.stopAll()
	r.follow(ctx, steps)
}

package install_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/stablering/stablering/test/controlplane"
	"github.com/stablering/stablering/test/install"
)

// TestServerSideDryRun sends every object the chart renders (with defaults and with every
// feature on) and every object of config/default to a real kube-apiserver as a server-side
// apply dry run, so the API server's own validation and admission judge them. The control plane
// installs the CRD from the chart's crds/ directory, as Helm would. ServiceMonitors and the
// PrometheusRule are left out: their CRDs belong to the Prometheus Operator (TestChartGatewayService,
// TestChartManagerServiceMonitor and TestChartMonitoringFiles check them). The
// namespaces enforce the "restricted" Pod Security Standard, and any warning the API server
// returns (such as a Deployment whose pods would violate it) fails the test.
func TestServerSideDryRun(t *testing.T) {
	if reason := controlplane.SkipReason(); reason != "" {
		t.Skip(reason)
	}
	manifests := map[string][]byte{
		"chart defaults":     renderChart(t),
		"chart all features": renderChart(t, "-f", allFeaturesValues),
		"kustomize":          renderKustomize(t),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cp, err := controlplane.Start(ctx, controlplane.Options{CRDPaths: []string{filepath.Join(chartDir, "crds")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cp.Stop(); err != nil {
			t.Error(err)
		}
	})
	clients, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	// A dry run persists nothing, so the namespaces the objects go to must exist for real.
	restricted := map[string]string{"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/warn": "restricted"}
	for _, ns := range []string{releaseNamespace, "team-a", "team-b"} {
		namespace := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: restricted}}
		if _, err := clients.CoreV1().Namespaces().Create(ctx, namespace, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	kubectl := filepath.Join(cp.BinDir, "kubectl")
	for name, data := range manifests {
		t.Run(name, func(t *testing.T) {
			objs := withoutKind(decoded(t, data), install.ServiceMonitor.Kind, install.PrometheusRule.Kind)
			file := filepath.Join(t.TempDir(), "manifests.yaml")
			if err := os.WriteFile(file, joinYAML(t, objs), 0o600); err != nil {
				t.Fatal(err)
			}
			out, warnings := runWithStderr(t, kubectl, "--kubeconfig", cp.KubeconfigPath, "apply", "--server-side", "--dry-run=server",
				"--field-manager=stablering-install-test", "-f", file)
			if len(warnings) > 0 {
				t.Errorf("kubectl apply warned:\n%s", warnings)
			}
			t.Logf("%d objects accepted:\n%s", len(objs), out)
		})
	}
}

func withoutKind(objs []*unstructured.Unstructured, kinds ...string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if !slices.Contains(kinds, o.GetKind()) {
			out = append(out, o)
		}
	}
	return out
}

func joinYAML(t *testing.T, objs []*unstructured.Unstructured) []byte {
	t.Helper()
	var out []byte
	for _, o := range objs {
		doc, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		out = append(append(out, "---\n"...), doc...)
	}
	return out
}

package install_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/stablering/stablering/test/controlplane"
	"github.com/stablering/stablering/test/install"
)

// Paths relative to this package's directory, where go test runs.
const (
	repoRoot          = "../.."
	chartDir          = repoRoot + "/charts/stablering"
	allFeaturesValues = chartDir + "/ci/all-features-values.yaml"
	releaseName       = "stablering"
	releaseNamespace  = "stablering-system"
)

// helmEnv names the Helm binary; make test sets it to the pinned one in ./bin.
const helmEnv = "HELM"

// helmBinary returns $HELM, or else the pinned Helm that make helm installs into ./bin, and skips
// the test when there is neither.
func helmBinary(t *testing.T) string {
	t.Helper()
	if helm := os.Getenv(helmEnv); helm != "" {
		return helm
	}
	found, _ := filepath.Glob(filepath.Join(repoRoot, "bin", "helm-v*"))
	if len(found) == 0 {
		t.Skipf("no Helm binary: run `make helm`, or set %s", helmEnv)
	}
	slices.Sort(found)
	return found[len(found)-1]
}

// run runs a command and returns its standard output, failing the test with its standard error.
func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	out, _ := runWithStderr(t, name, args...)
	return out
}

// runWithStderr runs a command and returns its standard output and error, failing the test if the
// command fails.
func runWithStderr(t *testing.T, name string, args ...string) (stdout, stderr []byte) {
	t.Helper()
	stdout, stderr, err := runErr(name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v", filepath.Base(name), strings.Join(args, " "), err)
	}
	return stdout, stderr
}

// runErr runs a command and returns its standard output and error; a failure's error includes
// the standard error.
func runErr(name string, args ...string) (stdout, stderr []byte, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return nil, errOut.Bytes(), fmt.Errorf("%w: %s", err, strings.TrimSpace(errOut.String()))
	}
	return out.Bytes(), errOut.Bytes(), nil
}

// renderChart runs helm template on the chart with the extra arguments.
func renderChart(t *testing.T, args ...string) []byte {
	t.Helper()
	return run(t, helmBinary(t), append([]string{"template", releaseName, chartDir, "--namespace", releaseNamespace}, args...)...)
}

// renderKustomize runs kubectl kustomize on config/default, with the control plane's kubectl.
func renderKustomize(t *testing.T) []byte {
	t.Helper()
	dir, err := controlplane.BinDir()
	if err != nil {
		if reason := controlplane.SkipReason(); reason != "" {
			t.Skip(reason)
		}
		t.Fatal(err)
	}
	return run(t, filepath.Join(dir, "kubectl"), "kustomize", filepath.Join(repoRoot, "config", "default"))
}

// chartCases are the value sets the chart is checked with.
var chartCases = []struct {
	name string
	args []string
}{
	{"defaults", nil},
	{"all features", []string{"-f", allFeaturesValues}},
}

// decoded splits rendered manifests into objects.
func decoded(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	objs, err := install.Split(data)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// typed converts obj into out, a pointer to its Go type.
func typed(t *testing.T, obj *unstructured.Unstructured, out any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, out); err != nil {
		t.Fatalf("%s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
}

// ofKind returns the objects of kind.
func ofKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// TestRenderedManifestsAreValid renders the chart (with its CRD) and config/default and checks
// them offline with install.Validate.
func TestRenderedManifestsAreValid(t *testing.T) {
	for _, c := range chartCases {
		t.Run("chart "+c.name, func(t *testing.T) {
			if err := install.Validate(renderChart(t, append([]string{"--include-crds"}, c.args...)...)); err != nil {
				t.Error(err)
			}
		})
	}
	t.Run("kustomize", func(t *testing.T) {
		data := renderKustomize(t)
		if err := install.Validate(data); err != nil {
			t.Error(err)
		}
		for _, o := range decoded(t, data) {
			if ns := o.GetNamespace(); ns != "" && ns != releaseNamespace {
				t.Errorf("%s %s is in namespace %s, want %s", o.GetKind(), o.GetName(), ns, releaseNamespace)
			}
		}
	})
}

// TestChartCopiesMatchGenerated fails when the chart's copies of generated manifests differ from
// the originals; make manifests refreshes them.
func TestChartCopiesMatchGenerated(t *testing.T) {
	pairs := map[string]string{
		"config/rbac/role.yaml":                 "charts/stablering/files/role.yaml",
		"config/rbac/leader_election_role.yaml": "charts/stablering/files/leader_election_role.yaml",
	}
	crds, err := filepath.Glob(filepath.Join(repoRoot, "config", "crd", "bases", "*.yaml"))
	if err != nil || len(crds) == 0 {
		t.Fatalf("no CRDs in config/crd/bases (%v)", err)
	}
	for _, crd := range crds {
		pairs["config/crd/bases/"+filepath.Base(crd)] = "charts/stablering/crds/" + filepath.Base(crd)
	}
	chartCRDs, _ := filepath.Glob(filepath.Join(chartDir, "crds", "*"))
	if len(chartCRDs) != len(crds) {
		t.Errorf("charts/stablering/crds has %d files, config/crd/bases %d; run make manifests", len(chartCRDs), len(crds))
	}
	for original, cp := range pairs {
		want, err := os.ReadFile(filepath.Join(repoRoot, original))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(repoRoot, cp))
		if err != nil {
			t.Errorf("%v; run make manifests", err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s; run make manifests", cp, original)
		}
	}
}

// TestValuesSchemaRejectsBadValues checks that values.schema.json stops bad values before
// anything is rendered.
func TestValuesSchemaRejectsBadValues(t *testing.T) {
	helm := helmBinary(t)
	bad := []struct{ set, complaint string }{
		{"manager.replicas=-1", "/manager/replicas"},
		{"gateway.replicas=0", "/gateway/replicas"},
		{"manager.logLevel=verbose", "/manager/logLevel"},
		{"gateway.logLevel=trace", "/gateway/logLevel"},
		{"gateway.image.pullPolicy=Sometimes", "/gateway/image/pullPolicy"},
		{"gateway.service.type=ExternalName", "/gateway/service/type"},
		{"gateway.service.port=70000", "/gateway/service/port"},
		{"manager.metricsPort=0", "/manager/metricsPort"},
		{"gateway.shutdownDelay=soon", "/gateway/shutdownDelay"},
		{"gateway.autoscaling.targetCPUUtilizationPercentage=0", "/gateway/autoscaling/targetCPUUtilizationPercentage"},
		{"gateway.podDisruptionBudget.maxUnavailable=150%", "/gateway/podDisruptionBudget/maxUnavailable"},
		{"watchNamespaces[0]=Not_A_Namespace", "/watchNamespaces/0"},
		{"gateway.replica=3", "additional properties 'replica'"},
		{"manager.image.tag=1", "/manager/image/tag"},
		{"gateway.extraEnv[0].value=400", "/gateway/extraEnv/0"},
		{"gateway.limits.sendTimeout=soon", "/gateway/limits/sendTimeout"},
		{"gateway.limits.dialTimeout=5", "/gateway/limits/dialTimeout"},
		{"gateway.limits.closeGrace=2 s", "/gateway/limits/closeGrace"},
		{"gateway.limits.maxHeaders=0", "/gateway/limits/maxHeaders"},
		{"gateway.limits.maxHeaderBytes=32KiB", "/gateway/limits/maxHeaderBytes"},
		{"gateway.limits.maxConnections=-1", "/gateway/limits/maxConnections"},
		{"gateway.limits.readTimeout=5s", "additional properties 'readTimeout'"},
	}
	for _, b := range bad {
		t.Run(b.set, func(t *testing.T) {
			_, _, err := runErr(helm, "template", releaseName, chartDir, "--set", b.set)
			if err == nil {
				t.Fatalf("helm template --set %s succeeded; want a schema error", b.set)
			}
			if msg := err.Error(); !strings.Contains(msg, "schema") || !strings.Contains(msg, b.complaint) {
				t.Errorf("helm template --set %s: want a schema error about %s, got: %s", b.set, b.complaint, msg)
			}
		})
	}
}

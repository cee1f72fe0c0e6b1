package install_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"

	"github.com/stablering/stablering/api/v1alpha1"
)

// chartMeta is the part of Chart.yaml the release checks read.
type chartMeta struct {
	Version     string            `json:"version"`
	AppVersion  string            `json:"appVersion"`
	Annotations map[string]string `json:"annotations"`
}

func readChartMeta(t *testing.T) chartMeta {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var meta chartMeta
	if err := yaml.Unmarshal(data, &meta); err != nil {
		t.Fatal(err)
	}
	return meta
}

// annotation decodes the YAML of Chart.yaml's annotation key into out.
func annotation(t *testing.T, meta chartMeta, key string, out any) {
	t.Helper()
	text, ok := meta.Annotations[key]
	if !ok {
		t.Fatalf("Chart.yaml has no annotation %s", key)
	}
	if err := yaml.UnmarshalStrict([]byte(text), out); err != nil {
		t.Fatalf("annotation %s: %v", key, err)
	}
}

// TestChartImages: by default the chart runs the project's images at ghcr.io/stablering, tagged
// with its appVersion, the version stamped into the binaries (a v-prefixed release).
func TestChartImages(t *testing.T) {
	meta := readChartMeta(t)
	if !strings.HasPrefix(meta.AppVersion, "v") || "v"+meta.Version != meta.AppVersion {
		t.Errorf("Chart.yaml: version %q and appVersion %q, want appVersion v<version> as the release workflow sets them", meta.Version, meta.AppVersion)
	}
	objs := decoded(t, renderChart(t))
	for _, component := range []string{"manager", "gateway"} {
		image := deployment(t, objs, component).Spec.Template.Spec.Containers[0].Image
		if want := "ghcr.io/stablering/" + component + ":" + meta.AppVersion; image != want {
			t.Errorf("the %s's image is %s, want %s", component, image, want)
		}
	}
}

// TestChartArtifactHub checks the Artifact Hub annotations against the chart: the images it
// runs by default, its CRD, and an example that is the chat example's StableRing.
func TestChartArtifactHub(t *testing.T) {
	meta := readChartMeta(t)
	for key, want := range map[string]string{
		"artifacthub.io/category": "networking",
		"artifacthub.io/operator": "true",
	} {
		if got := meta.Annotations[key]; got != want {
			t.Errorf("annotation %s = %q, want %q", key, got, want)
		}
	}

	var images []struct{ Name, Image string }
	annotation(t, meta, "artifacthub.io/images", &images)
	objs := decoded(t, renderChart(t))
	if len(images) != 2 {
		t.Fatalf("artifacthub.io/images lists %+v, want the manager and the gateway", images)
	}
	for _, img := range images {
		if got := deployment(t, objs, img.Name).Spec.Template.Spec.Containers[0].Image; got != img.Image {
			t.Errorf("artifacthub.io/images: %s is %s, the chart runs %s", img.Name, img.Image, got)
		}
	}

	var crds []struct{ Kind, Version, Name, DisplayName, Description string }
	annotation(t, meta, "artifacthub.io/crds", &crds)
	files, err := filepath.Glob(filepath.Join(chartDir, "crds", "*.yaml"))
	if err != nil || len(files) != len(crds) {
		t.Fatalf("artifacthub.io/crds lists %d CRDs, the chart has %d (%v)", len(crds), len(files), err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.Unmarshal(data, &crd); err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(crds, func(c struct{ Kind, Version, Name, DisplayName, Description string }) bool { return c.Name == crd.Name })
		if i < 0 {
			t.Errorf("artifacthub.io/crds does not list the chart's CRD %s", crd.Name)
			continue
		}
		got := crds[i]
		if got.Kind != crd.Spec.Names.Kind || len(crd.Spec.Versions) != 1 || got.Version != crd.Spec.Versions[0].Name || got.Description == "" {
			t.Errorf("artifacthub.io/crds: %+v, the chart's CRD is %s, kind %s, versions %d", got, crd.Name, crd.Spec.Names.Kind, len(crd.Spec.Versions))
		}
	}

	var examples []v1alpha1.StableRing
	annotation(t, meta, "artifacthub.io/crdsExamples", &examples)
	data, err := os.ReadFile(filepath.Join(repoRoot, "examples", "chat", "deploy", "stablering.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var chat v1alpha1.StableRing
	if err := yaml.UnmarshalStrict(data, &chat); err != nil {
		t.Fatal(err)
	}
	if len(examples) != 1 || !equality.Semantic.DeepEqual(examples[0], chat) {
		t.Errorf("artifacthub.io/crdsExamples is %+v, want the chat example's StableRing %+v", examples, chat)
	}

	var links []struct{ Name, URL string }
	annotation(t, meta, "artifacthub.io/links", &links)
	for _, l := range links {
		path, ok := strings.CutPrefix(l.URL, "https://github.com/stablering/stablering/blob/main/")
		if _, err := os.Stat(filepath.Join(repoRoot, filepath.FromSlash(path))); !ok || err != nil {
			t.Errorf("artifacthub.io/links: %s links %s, not a file of this repository", l.Name, l.URL)
		}
	}
}

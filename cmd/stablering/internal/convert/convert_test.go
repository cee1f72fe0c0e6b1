package convert

import (
	"os"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/stablering/stablering/internal/golden"
)

// goldenIn is a case of testdata/*.in.yaml: the manifests a user passes, objects without a
// namespace being in "default".
type goldenIn struct {
	Objects []map[string]any `json:"objects"`
}

// goldenOut is a case's testdata/*.out.yaml: the rings as convert prints them, then the notes
// and refusals.
type goldenOut struct {
	Rings   []map[string]any `json:"rings,omitempty"`
	Notes   []string         `json:"notes,omitempty"`
	Refused []string         `json:"refused,omitempty"`
}

// TestGolden converts each testdata/NAME.in.yaml and compares the rings, notes and refusals with
// testdata/NAME.out.yaml (go test -update rewrites them).
func TestGolden(t *testing.T) {
	golden.Run(t, "testdata", func(t *testing.T, in *goldenIn) any {
		res := Convert(parseObjects(t, in.Objects, false))
		printed, err := YAML(res.Rings)
		if err != nil {
			t.Fatal(err)
		}
		var out goldenOut
		if err := eachDocument(printed, func(obj *unstructured.Unstructured) error {
			out.Rings = append(out.Rings, obj.Object)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for _, f := range res.Notes {
			out.Notes = append(out.Notes, f.String())
		}
		for _, f := range res.Refused {
			out.Refused = append(out.Refused, f.String())
		}
		return out
	})
}

// parseObjects parses objects as manifests into an inventory.
func parseObjects(t *testing.T, objects []map[string]any, complete bool) Inventory {
	t.Helper()
	inv := Inventory{Complete: complete}
	for _, obj := range objects {
		data, err := yaml.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		if err := inv.Parse(data, "default"); err != nil {
			t.Fatal(err)
		}
	}
	return inv
}

// TestClusterInventory checks that an inventory read from a cluster reports a missing Service or
// StatefulSet as absent instead of asking for its manifest.
func TestClusterInventory(t *testing.T) {
	var in goldenIn
	data, err := os.ReadFile("testdata/refused-backend.in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, &in); err != nil {
		t.Fatal(err)
	}
	inv := parseObjects(t, in.Objects, true)
	got := map[string]string{}
	for _, f := range Convert(inv).Refused {
		got[f.Where] = f.Message
	}
	for where, want := range map[string]string{
		"chat.example.com/no-service":     "Service default/missing not found",
		"chat.example.com/no-statefulset": "no StatefulSet's pods match Service orphan's selector app=orphan",
	} {
		if got[where] != want {
			t.Errorf("%s: %q, want %q", where, got[where], want)
		}
	}
}

package convert

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.out.yaml golden files from what Convert returns")

// TestGolden converts each testdata/NAME.in.yaml and compares the rings, notes and refusals with
// testdata/NAME.out.yaml. Objects without a namespace are in "default".
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.in.yaml")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no testdata/*.in.yaml (%v)", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".in.yaml")
		t.Run(name, func(t *testing.T) {
			got := render(t, in)
			golden := filepath.Join("testdata", name+".out.yaml")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if string(got) != string(want) {
				t.Errorf("conversion of %s differs from %s (go test -update rewrites it):\n--- got\n%s--- want\n%s", in, golden, got, want)
			}
		})
	}
}

// render converts the manifests of file and renders the result as the golden files hold it: the
// rings' YAML, then the notes and refusals as comments.
func render(t *testing.T, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var inv Inventory
	if err := inv.Parse(data, "default"); err != nil {
		t.Fatal(err)
	}
	res := Convert(inv)
	out, err := YAML(res.Rings)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Notes {
		out = append(out, "# note: "+f.String()+"\n"...)
	}
	for _, f := range res.Refused {
		out = append(out, "# refused: "+f.String()+"\n"...)
	}
	return out
}

// TestClusterInventory checks that an inventory read from a cluster reports a missing Service or
// StatefulSet as absent instead of asking for its manifest.
func TestClusterInventory(t *testing.T) {
	data, err := os.ReadFile("testdata/refused-backend.in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	inv := Inventory{Complete: true}
	if err := inv.Parse(data, "default"); err != nil {
		t.Fatal(err)
	}
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

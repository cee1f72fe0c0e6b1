// Package golden runs table tests whose cases are files: every testdata/<dir>/<name>.in.yaml is
// an input, and <name>.out.yaml beside it is what the code under test makes of it. A reviewer
// reads a change of behaviour as a diff of the .out.yaml files. Run the tests with -update to
// write the outputs anew from the code, then review and commit the diff.
package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "write the golden *.out.yaml files from the code instead of comparing with them")

const (
	inSuffix  = ".in.yaml"
	outSuffix = ".out.yaml"
)

// Run runs every case in dir: it reads <name>.in.yaml into a new In (fields it does not know
// are an error), calls run in a subtest named name, and compares the YAML of what run returns
// with <name>.out.yaml, or writes that file with -update. It returns the names of the cases. A
// dir without cases fails the test.
func Run[In any](t *testing.T, dir string, run func(t *testing.T, in *In) any) []string {
	t.Helper()
	inputs, err := filepath.Glob(filepath.Join(dir, "*"+inSuffix))
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) == 0 {
		t.Fatalf("no %s files in %s", inSuffix, dir)
	}
	names := make([]string, 0, len(inputs))
	for _, path := range inputs {
		name := strings.TrimSuffix(filepath.Base(path), inSuffix)
		names = append(names, name)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			in := new(In)
			if err := yaml.UnmarshalStrict(data, in); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			got, err := yaml.Marshal(run(t, in))
			if err != nil {
				t.Fatalf("marshalling the output: %v", err)
			}
			check(t, strings.TrimSuffix(path, inSuffix)+outSuffix, got)
		})
	}
	return names
}

// check compares got with the golden file, or writes it with -update.
func check(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to write it)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from the output (-want +got); if the change is intended, run the test with -update and review the diff:\n%s",
			path, cmp.Diff(string(want), string(got)))
	}
}

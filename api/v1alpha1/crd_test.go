package v1alpha1_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/balancer"
	"github.com/stablering/stablering/ringhash"
)

// crdFile and sliceCRDFile are the generated CRDs (make manifests); the Helm chart ships copies
// of them.
var (
	crdFile      = filepath.Join("..", "..", "config", "crd", "bases", "ring.stablering.io_stablerings.yaml")
	sliceCRDFile = filepath.Join("..", "..", "config", "crd", "bases", "ring.stablering.io_memberslices.yaml")
)

// loadSchema returns the OpenAPI schema of the StableRing CRD's only version.
func loadSchema(t *testing.T) *apiextensionsv1.JSONSchemaProps {
	t.Helper()
	return loadSchemaOf(t, crdFile)
}

// loadSchemaOf returns the OpenAPI schema of the only version of the CRD in crdFile.
func loadSchemaOf(t *testing.T, crdFile string) *apiextensionsv1.JSONSchemaProps {
	t.Helper()
	data, err := os.ReadFile(crdFile)
	if err != nil {
		t.Fatal(err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(data, crd); err != nil {
		t.Fatalf("%s: %v", crdFile, err)
	}
	if len(crd.Spec.Versions) != 1 || crd.Spec.Versions[0].Schema == nil {
		t.Fatalf("%s: want one version with a schema, got %d versions", crdFile, len(crd.Spec.Versions))
	}
	return crd.Spec.Versions[0].Schema.OpenAPIV3Schema
}

// field returns the schema at path, given as property names from the root.
func field(t *testing.T, root *apiextensionsv1.JSONSchemaProps, path ...string) apiextensionsv1.JSONSchemaProps {
	t.Helper()
	s := *root
	for i, name := range path {
		p, ok := s.Properties[name]
		if !ok {
			t.Fatalf("the CRD schema has no %s", strings.Join(path[:i+1], "."))
		}
		s = p
	}
	return s
}

// TestCRDIntOrString checks that the fields that take a number or a string are int-or-string in
// the CRD, as controller-gen writes intstr.IntOrString, and keep their validation rules.
func TestCRDIntOrString(t *testing.T) {
	root := loadSchema(t)
	for _, path := range [][]string{{"spec", "port"}, {"spec", "rollout", "batchSize"}} {
		name := strings.Join(path, ".")
		s := field(t, root, path...)
		if !s.XIntOrString {
			t.Errorf("%s: want x-kubernetes-int-or-string: true", name)
		}
		if s.Type != "" {
			t.Errorf("%s: want no type (int-or-string), got %q", name, s.Type)
		}
		var anyOf []string
		for _, a := range s.AnyOf {
			anyOf = append(anyOf, a.Type)
		}
		if strings.Join(anyOf, ",") != "integer,string" {
			t.Errorf("%s: want anyOf [{type: integer}, {type: string}], got types %v", name, anyOf)
		}
		if len(s.XValidations) == 0 {
			t.Errorf("%s: want its CEL validation rule, got none", name)
		}
	}
}

// upstream are the fields whose descriptions come from Kubernetes' own types (TypeMeta and
// metav1.Condition), not from this package's comments.
var upstream = []string{"apiVersion", "kind", "status.conditions[]."}

// TestCRDDescriptions checks that every description the package's comments give the CRD reads as
// whole sentences in kubectl explain, which prints a description's line breaks as they are: no
// line break inside a paragraph (a comment wrapped over several lines), no marker that leaked in,
// and each paragraph ending in a terminal punctuation mark (one cut short, or split by a blank
// comment line, ends without one).
func TestCRDDescriptions(t *testing.T) {
	var walk func(path string, s *apiextensionsv1.JSONSchemaProps)
	count := 0
	walk = func(path string, s *apiextensionsv1.JSONSchemaProps) {
		for _, u := range upstream {
			if path == u || strings.HasPrefix(path, u) {
				return
			}
		}
		if d := s.Description; d != "" {
			count++
			name := path
			if name == "" {
				name = "(root)"
			}
			if strings.Contains(strings.ReplaceAll(d, "\n\n", ""), "\n") {
				t.Errorf("%s: the description breaks a paragraph over lines (write each paragraph of the comment on one line): %q", name, d)
			}
			if strings.Contains(d, "+kubebuilder") || strings.Contains(d, "+optional") || strings.Contains(d, "+required") || strings.Contains(d, "+list") {
				t.Errorf("%s: a marker leaked into the description (keep markers after the comment's text): %q", name, d)
			}
			if strings.TrimSpace(d) != d {
				t.Errorf("%s: the description starts or ends with white space: %q", name, d)
			}
			for _, para := range strings.Split(d, "\n\n") {
				if para == "" || !strings.ContainsAny(para[len(para)-1:], ".):`") {
					t.Errorf("%s: a paragraph of the description does not end a sentence (cut short, or split by a blank comment line?): %q", name, d)
				}
			}
		}
		prefix := path
		if prefix != "" {
			prefix += "."
		}
		for name, p := range s.Properties {
			walk(prefix+name, &p)
		}
		if s.Items != nil && s.Items.Schema != nil {
			walk(path+"[]", s.Items.Schema)
		}
		if s.AdditionalProperties != nil && s.AdditionalProperties.Schema != nil {
			walk(path+"{}", s.AdditionalProperties.Schema)
		}
	}
	walk("", loadSchema(t))
	walk("", loadSchemaOf(t, sliceCRDFile))
	if count < 50 {
		t.Errorf("checked only %d descriptions; the walk of the schema misses fields", count)
	}
}

// TestChartCRD checks that the Helm chart ships the generated CRDs unchanged.
func TestChartCRD(t *testing.T) {
	for _, crdFile := range []string{crdFile, sliceCRDFile} {
		want, err := os.ReadFile(crdFile)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join("..", "..", "charts", "stablering", "crds", filepath.Base(crdFile)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("charts/stablering/crds/%s differs from %s: run make manifests", filepath.Base(crdFile), crdFile)
		}
	}
}

// TestCRDMemberLimits checks the list limits that markers cannot take from the constants: a
// MemberSlice holds MembersPerSlice members, a status names MaxMemberSlices slices, and those
// hold MaxMembers.
func TestCRDMemberLimits(t *testing.T) {
	for _, c := range []struct {
		name string
		got  *int64
		want int64
	}{
		{"MemberSlice members", field(t, loadSchemaOf(t, sliceCRDFile), "members").MaxItems, v1alpha1.MembersPerSlice},
		{"StableRing status.memberSlices", field(t, loadSchema(t), "status", "memberSlices").MaxItems, int64(v1alpha1.MaxMemberSlices)},
		{"StableRing status.rollout.batchMembers", field(t, loadSchema(t), "status", "rollout", "batchMembers").MaxItems, int64(v1alpha1.MaxMembers)},
	} {
		if c.got == nil || *c.got != c.want {
			t.Errorf("%s: maxItems %v, want %d", c.name, c.got, c.want)
		}
	}
	if v1alpha1.MaxMemberSlices*v1alpha1.MembersPerSlice < v1alpha1.MaxMembers {
		t.Errorf("%d slices of %d members hold fewer than MaxMembers (%d)", v1alpha1.MaxMemberSlices, v1alpha1.MembersPerSlice, v1alpha1.MaxMembers)
	}
}

// TestAlgorithmsAreTheBalancers checks that the algorithms the API accepts, in spec.hash and in
// status.hash, are exactly the balancer's, that ringhash gives each the balancer algorithm of
// the same name, and that the API's default is the balancer's first (its default).
func TestAlgorithmsAreTheBalancers(t *testing.T) {
	root := loadSchema(t)
	var want []string
	for _, a := range balancer.Algorithms() {
		want = append(want, string(a))
	}
	for _, part := range []string{"spec", "status"} {
		var got []string
		for _, e := range field(t, root, part, "hash", "algorithm").Enum {
			var name string
			if err := yaml.Unmarshal(e.Raw, &name); err != nil {
				t.Fatal(err)
			}
			got = append(got, name)
			if alg := ringhash.Algorithm(v1alpha1.Algorithm(name)); string(alg) != name {
				t.Errorf("API algorithm %s is balancer algorithm %s", name, alg)
			}
		}
		if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))) {
			t.Errorf("%s.hash.algorithm accepts %v, the balancer has %v", part, got, want)
		}
	}
	if def := field(t, root, "spec", "hash", "algorithm").Default; def == nil || string(def.Raw) != `"`+want[0]+`"` {
		t.Errorf("spec.hash.algorithm defaults to %v, want the balancer's default %s", def, want[0])
	}
	if got := ringhash.Algorithm(""); got != balancer.Algorithms()[0] {
		t.Errorf("no algorithm is %s, want %s", got, balancer.Algorithms()[0])
	}
}

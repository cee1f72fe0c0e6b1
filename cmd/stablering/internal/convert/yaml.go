package convert

import (
	"bytes"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/stablering/stablering/api/v1alpha1"
)

// YAML renders rings as YAML documents to apply: without status, which the controller writes,
// without the empty creationTimestamp, and without the spec sections left to their defaults.
func YAML(rings []v1alpha1.StableRing) ([]byte, error) {
	var out bytes.Buffer
	for i := range rings {
		obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&rings[i])
		if err != nil {
			return nil, err
		}
		delete(obj, "status")
		unstructured.RemoveNestedField(obj, "metadata", "creationTimestamp")
		// Sections left to their defaults (hash, rollout, unavailable) are left out.
		spec, _ := obj["spec"].(map[string]any)
		for name, v := range spec {
			if m, ok := v.(map[string]any); ok && len(m) == 0 {
				delete(spec, name)
			}
		}
		doc, err := yaml.Marshal(obj)
		if err != nil {
			return nil, err
		}
		out.WriteString("---\n")
		out.Write(doc)
	}
	return out.Bytes(), nil
}

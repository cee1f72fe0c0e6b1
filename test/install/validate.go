// Package install checks what users install StableRing with: the Helm chart in charts/stablering
// and the kustomize tree in config/default. Validate checks rendered manifests offline, without
// an API server (make helm-lint runs it through hack/validate-manifests); the package's tests
// also render both, check their security settings, RBAC and command lines, and dry-run them
// against a local control plane.
package install

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"github.com/stablering/stablering/api/v1alpha1"
)

// ServiceMonitor and PrometheusRule are the Prometheus Operator kinds the chart can render. Their
// types are not part of this module, so Validate checks only their metadata.
var (
	ServiceMonitor = schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "ServiceMonitor"}
	PrometheusRule = schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "PrometheusRule"}
)

// clusterScoped are the cluster-scoped kinds StableRing installs; every other kind must name its
// namespace, so that `kubectl apply` puts it where the release or kustomization says.
var clusterScoped = map[schema.GroupKind]bool{
	{Kind: "Namespace"}: true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:         true,
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}:  true,
	{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}: true,
}

// Split decodes a multi-document YAML stream into objects, skipping empty documents.
func Split(data []byte) ([]*unstructured.Unstructured, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var objs []*unstructured.Unstructured
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		js, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", len(objs)+1, err)
		}
		if js = bytes.TrimSpace(js); string(js) == "null" || string(js) == "{}" {
			continue
		}
		obj := &unstructured.Unstructured{}
		if err := obj.UnmarshalJSON(js); err != nil {
			return nil, fmt.Errorf("document %d: %w", len(objs)+1, err)
		}
		objs = append(objs, obj)
	}
}

// Validate checks a multi-document YAML stream of manifests without an API server, the way a
// schema validator would: every document must decode strictly into the Go type of its kind (an
// unknown or duplicate field, or a value of the wrong type, is an error), kinds must be known,
// namespaced objects must name their namespace, and no object may appear twice.
func Validate(data []byte) error {
	objs, err := Split(data)
	if err != nil {
		return err
	}
	if len(objs) == 0 {
		return errors.New("no manifests")
	}
	scheme, err := newScheme()
	if err != nil {
		return err
	}
	decoder := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	seen := map[string]bool{}
	var errs []error
	for _, obj := range objs {
		id := describe(obj)
		if err := validateObject(decoder, scheme, obj); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", id, err))
		}
		if seen[id] {
			errs = append(errs, fmt.Errorf("%s appears more than once", id))
		}
		seen[id] = true
	}
	return errors.Join(errs...)
}

func validateObject(decoder runtime.Decoder, scheme *runtime.Scheme, obj *unstructured.Unstructured) error {
	gvk := obj.GroupVersionKind()
	switch {
	case gvk.Kind == "" || gvk.Version == "":
		return errors.New("apiVersion and kind are required")
	case obj.GetName() == "":
		return errors.New("metadata.name is required")
	case clusterScoped[gvk.GroupKind()] && obj.GetNamespace() != "":
		return fmt.Errorf("%s is cluster-scoped but names namespace %q", gvk.Kind, obj.GetNamespace())
	case !clusterScoped[gvk.GroupKind()] && obj.GetNamespace() == "":
		return errors.New("metadata.namespace is required")
	case gvk == ServiceMonitor || gvk == PrometheusRule:
		return nil
	case !scheme.Recognizes(gvk):
		return fmt.Errorf("unknown kind %s", gvk)
	}
	doc, err := obj.MarshalJSON()
	if err != nil {
		return err
	}
	_, _, err = decoder.Decode(doc, nil, nil)
	return err
}

func describe(obj *unstructured.Unstructured) string {
	id := obj.GetKind() + " " + obj.GetName()
	if ns := obj.GetNamespace(); ns != "" {
		id = obj.GetKind() + " " + ns + "/" + obj.GetName()
	}
	return id
}

func newScheme() (*runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	return scheme, nil
}

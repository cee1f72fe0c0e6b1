package convert

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Parse adds the objects of YAML or JSON manifests (several documents, and kubectl's List
// documents, as `kubectl get -o yaml` prints) to inv: Ingresses of networking.k8s.io/v1,
// Services, StatefulSets and Deployments. Objects of other kinds are skipped; an object without
// a namespace is in defaultNamespace.
func (inv *Inventory) Parse(data []byte, defaultNamespace string) error {
	return eachDocument(data, func(obj *unstructured.Unstructured) error { return inv.add(obj, defaultNamespace) })
}

// eachDocument calls f with each object of YAML or JSON documents, skipping empty documents.
func eachDocument(data []byte, f func(*unstructured.Unstructured) error) error {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var obj unstructured.Unstructured
		err := dec.Decode(&obj.Object)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if obj.Object == nil {
			continue // an empty document
		}
		if err := f(&obj); err != nil {
			return err
		}
	}
}

func (inv *Inventory) add(obj *unstructured.Unstructured, defaultNamespace string) error {
	if obj.IsList() {
		return obj.EachListItem(func(item runtime.Object) error {
			return inv.add(item.(*unstructured.Unstructured), defaultNamespace)
		})
	}
	if obj.GetNamespace() == "" {
		obj.SetNamespace(defaultNamespace)
	}
	var err error
	switch obj.GroupVersionKind() {
	case networkingv1.SchemeGroupVersion.WithKind("Ingress"):
		inv.Ingresses, err = appendAs(inv.Ingresses, obj)
	case corev1.SchemeGroupVersion.WithKind("Service"):
		inv.Services, err = appendAs(inv.Services, obj)
	case appsv1.SchemeGroupVersion.WithKind("StatefulSet"):
		inv.StatefulSets, err = appendAs(inv.StatefulSets, obj)
	case appsv1.SchemeGroupVersion.WithKind("Deployment"):
		inv.Deployments, err = appendAs(inv.Deployments, obj)
	}
	return err
}

// appendAs decodes obj strictly into a T and appends it to list.
func appendAs[T any](list []T, obj *unstructured.Unstructured) ([]T, error) {
	var v T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(obj.Object, &v, true); err != nil {
		return list, fmt.Errorf("%s %s/%s: %w", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
	}
	return append(list, v), nil
}

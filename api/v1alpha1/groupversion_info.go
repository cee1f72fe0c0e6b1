// Package v1alpha1 contains the StableRing API, group ring.stablering.io, version v1alpha1.
//
// A StableRing names a StatefulSet whose pod ordinals form a consistent-hash ring of room keys.
// The controller resolves the ring into status and paces rollouts; gateways route by that status.
//
// +kubebuilder:object:generate=true
// +groupName=ring.stablering.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of the StableRing API.
	GroupVersion = schema.GroupVersion{Group: "ring.stablering.io", Version: "v1alpha1"}

	// SchemeBuilder registers the API types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the API types to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

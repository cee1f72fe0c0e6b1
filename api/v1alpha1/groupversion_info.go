// Package v1alpha1 contains the StableRing API, group ring.stablering.io, version v1alpha1.
//
// A StableRing names a StatefulSet whose pod ordinals form a consistent-hash ring of room keys.
// The controller resolves the ring into status and paces rollouts; gateways route by that status.
//
// +kubebuilder:object:generate=true
// +groupName=ring.stablering.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of the StableRing API.
	GroupVersion = schema.GroupVersion{Group: "ring.stablering.io", Version: "v1alpha1"}

	// SchemeBuilder registers the API types with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the API types to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// addKnownTypes registers the API types and their lists under GroupVersion.
func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &StableRing{}, &StableRingList{}, &MemberSlice{}, &MemberSliceList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

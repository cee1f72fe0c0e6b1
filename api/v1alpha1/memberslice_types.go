package v1alpha1

import (
	"fmt"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MembersPerSlice is the most members one MemberSlice holds: slice n of a ring holds the members
// ordinalsStart+100n to ordinalsStart+100n+99. The API server's cost of a write follows the
// members it carries: at N=1,000, slices of 100 members kept reconcile p99 at 55 to 73 ms where
// slices of 250 had it at 98 to 99 ms (docs/scale.md).
const MembersPerSlice = 100

// MaxMemberSlices is the most MemberSlices a ring has: MaxMembers in slices of MembersPerSlice.
const MaxMemberSlices = (MaxMembers + MembersPerSlice - 1) / MembersPerSlice

// MemberSliceRef names one MemberSlice of a ring and the version of it that the ring's status was resolved with.
type MemberSliceRef struct {
	// name is the MemberSlice, in the StableRing's namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// version is the MemberSlice's version that belongs to this status.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Version string `json:"version"`
}

// MemberSlice holds up to 100 members of a StableRing's resolved ring. The controller writes the slices of a ring before its status, and the status names each slice with its version: a gateway routes by a ring's members only once it has every slice at the version its status names, so it never routes by half of a change. Splitting the members from the status keeps each write small: a rollout batch rewrites the status and the one or two slices whose members changed, not every member of the ring.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=srms,categories=stablering
// +kubebuilder:printcolumn:name="Ring",type=string,JSONPath=`.ring`,description="The StableRing these members belong to"
// +kubebuilder:printcolumn:name="First",type=integer,JSONPath=`.members[0].ordinal`,description="The first ordinal in the slice"
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.version`,description="Fingerprint of the members"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type MemberSlice struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// ring is the StableRing, in the same namespace, whose members these are.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Ring string `json:"ring"`
	// version fingerprints the members; it changes whenever any field of any member changes.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Version string `json:"version"`
	// members are consecutive ordinals of the ring, ascending.
	// +optional
	// +kubebuilder:validation:MaxItems=100
	// +listType=atomic
	Members []Member `json:"members,omitempty"`
}

// MemberSliceList is a list of MemberSlices.
//
// +kubebuilder:object:root=true
type MemberSliceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MemberSlice `json:"items"`
}

// MemberSliceName is the name of slice index of the StableRing named ring.
func MemberSliceName(ring string, index int) string {
	return ring + "-members-" + strconv.Itoa(index)
}

// AssembleMembers assembles the ring's members from its MemberSlices, as status.memberSlices names
// them. get returns the MemberSlice of a name in the ring's namespace, or nil when there is none.
// It fails, naming the slice, when a slice is missing or at another version than status names:
// the slices and the status are not of the same resolution yet, and routing by them would mix
// two. A ring whose status names no slices has no members.
func (sr *StableRing) AssembleMembers(get func(name string) *MemberSlice) ([]Member, error) {
	slices := make([]*MemberSlice, len(sr.Status.MemberSlices))
	n := 0
	for i, ref := range sr.Status.MemberSlices {
		slice := get(ref.Name)
		switch {
		case slice == nil:
			return nil, fmt.Errorf("MemberSlice %s/%s of StableRing %s does not exist", sr.Namespace, ref.Name, sr.Name)
		case slice.Ring != sr.Name:
			return nil, fmt.Errorf("MemberSlice %s/%s belongs to StableRing %s, not %s", sr.Namespace, ref.Name, slice.Ring, sr.Name)
		case slice.Version != ref.Version:
			return nil, fmt.Errorf("MemberSlice %s/%s is at version %s, StableRing %s's status names %s",
				sr.Namespace, ref.Name, slice.Version, sr.Name, ref.Version)
		}
		slices[i] = slice
		n += len(slice.Members)
	}
	if n == 0 {
		return nil, nil
	}
	members := make([]Member, 0, n) // gateways keep it: no room to spare
	for _, slice := range slices {
		members = append(members, slice.Members...)
	}
	return members, nil
}

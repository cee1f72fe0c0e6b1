package v1alpha1

import "strconv"

// PodName is the name of the pod of ordinal of StatefulSet statefulSetName: the StatefulSet
// controller names its pods <statefulSetName>-<ordinal>, so status.members need not carry it.
func PodName(statefulSetName string, ordinal int32) string {
	return statefulSetName + "-" + strconv.FormatInt(int64(ordinal), 10)
}

// PodName is the name of the pod of the ring's member ordinal.
func (sr *StableRing) PodName(ordinal int32) string {
	return PodName(sr.Spec.StatefulSetName, ordinal)
}

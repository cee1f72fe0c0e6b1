package v1alpha1

import "strconv"

// PodName is the name of the pod of ring member ordinal: the StatefulSet controller names a
// StatefulSet's pods <statefulSetName>-<ordinal>, so status.members need not carry it.
func (sr *StableRing) PodName(ordinal int32) string {
	return sr.Spec.StatefulSetName + "-" + strconv.FormatInt(int64(ordinal), 10)
}

package controllers

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The manager's cache holds only what rings are computed from, so that its memory follows the
// StatefulSets' pods, not every pod of the cluster:
//
//   - pods are watched with a label selector: only pods that carry the StatefulSet controller's
//     revision label (appsv1.ControllerRevisionHashLabelKey) reach the cache. Every pod a
//     StatefulSet creates carries it; pods of Deployments, Jobs and bare pods never do.
//   - a cached pod keeps its identity, the controller reference, the two labels a ring reads
//     (revision and pod index), the deletion timestamp, its containers' names and ports (to
//     resolve a named spec.port), its IP and its Ready condition; everything else is dropped
//     on arrival (see slimPod).
//   - a cached StatefulSet drops its pod template and volume claim templates (see slimStatefulSet).
//
// Every cached object also drops its managed fields.

// statefulSetPods selects the pods that StatefulSets create.
func statefulSetPods() labels.Selector {
	req, err := labels.NewRequirement(appsv1.ControllerRevisionHashLabelKey, selection.Exists, nil)
	if err != nil {
		panic(err) // the key is a valid label key
	}
	return labels.NewSelector().Add(*req)
}

// cacheByObject is the per-type configuration of the manager's cache.
func cacheByObject() map[client.Object]cache.ByObject {
	return map[client.Object]cache.ByObject{
		&corev1.Pod{}:         {Label: statefulSetPods(), Transform: slimPod},
		&appsv1.StatefulSet{}: {Transform: slimStatefulSet},
	}
}

// slimPod reduces a pod to what ring.Compute and the pod predicates read. Objects that are not
// pods (the informer's tombstones) pass unchanged.
func slimPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	slim := &corev1.Pod{
		TypeMeta: pod.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name:              pod.Name,
			Namespace:         pod.Namespace,
			UID:               pod.UID,
			ResourceVersion:   pod.ResourceVersion,
			DeletionTimestamp: pod.DeletionTimestamp,
			Labels:            keepLabels(pod.Labels, appsv1.ControllerRevisionHashLabelKey, appsv1.PodIndexLabel),
		},
		Spec: corev1.PodSpec{
			Containers:     portsOnly(pod.Spec.Containers, false),
			InitContainers: portsOnly(pod.Spec.InitContainers, true),
		},
		Status: corev1.PodStatus{PodIP: pod.Status.PodIP},
	}
	if owner := metav1.GetControllerOfNoCopy(pod); owner != nil {
		slim.OwnerReferences = []metav1.OwnerReference{*owner}
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			slim.Status.Conditions = []corev1.PodCondition{{Type: c.Type, Status: c.Status}}
		}
	}
	return slim, nil
}

// keepLabels returns the labels of keys that l has.
func keepLabels(l map[string]string, keys ...string) map[string]string {
	var kept map[string]string
	for _, k := range keys {
		if v, ok := l[k]; ok {
			if kept == nil {
				kept = make(map[string]string, len(keys))
			}
			kept[k] = v
		}
	}
	return kept
}

// portsOnly keeps the name and named ports of containers that declare named ports (a numeric
// spec.port needs none); sidecarsOnly keeps only
// init containers that restart Always (sidecars), with their restart policy.
func portsOnly(containers []corev1.Container, sidecarsOnly bool) []corev1.Container {
	var kept []corev1.Container
	for _, c := range containers {
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		if sidecarsOnly && !sidecar {
			continue
		}
		var ports []corev1.ContainerPort
		for _, p := range c.Ports {
			if p.Name != "" {
				ports = append(ports, corev1.ContainerPort{Name: p.Name, ContainerPort: p.ContainerPort})
			}
		}
		if len(ports) == 0 {
			continue
		}
		k := corev1.Container{Name: c.Name, Ports: ports}
		if sidecarsOnly {
			k.RestartPolicy = c.RestartPolicy
		}
		kept = append(kept, k)
	}
	return kept
}

// slimStatefulSet drops a StatefulSet's managed fields, annotations and templates: a ring
// reads its replicas, ordinals, strategies and revisions, never the pod template.
func slimStatefulSet(obj any) (any, error) {
	sts, ok := obj.(*appsv1.StatefulSet)
	if !ok {
		return obj, nil
	}
	sts.ManagedFields = nil
	sts.Annotations = nil
	sts.Spec.Template = corev1.PodTemplateSpec{}
	sts.Spec.VolumeClaimTemplates = nil
	return sts, nil
}

package ring

import (
	"net"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/stablering/stablering/api/v1alpha1"
)

// observed is one ordinal of the ring and its pod as seen now.
type observed struct {
	ordinal int32
	// podName is the pod's name, or the name the StatefulSet gives the ordinal's pod.
	podName string
	// exists is true when the ordinal has a pod; the fields below are only set then.
	exists          bool
	uid             types.UID
	resourceVersion string
	revision        string
	terminating     bool
	// ready is the PodReady condition of a pod that is not terminating.
	ready   bool
	address string
	// portMissing is true when spec.port names a port the pod does not declare.
	portMissing bool
}

// live reports whether the ordinal has a pod that is not being deleted.
func (o observed) live() bool {
	return o.exists && !o.terminating
}

// observe pairs every ordinal of [start, start+replicas) with its pod. Pods are matched by the
// apps.kubernetes.io/pod-index label, or by a name of the form <statefulSet>-<ordinal>.
func observe(stsName string, start, replicas int32, pods []corev1.Pod, port intstr.IntOrString) []observed {
	byOrdinal := make(map[int32]*corev1.Pod, len(pods))
	for i := range pods {
		pod := &pods[i]
		ordinal, ok := podOrdinal(stsName, pod)
		if !ok {
			continue
		}
		// Two pods can claim an ordinal only transiently; prefer the one not being deleted.
		if prev, dup := byOrdinal[ordinal]; dup && prev.DeletionTimestamp == nil {
			continue
		}
		byOrdinal[ordinal] = pod
	}
	members := make([]observed, 0, max(replicas, 0))
	for ordinal := start; ordinal < start+replicas; ordinal++ {
		o := observed{ordinal: ordinal, podName: v1alpha1.PodName(stsName, ordinal)}
		if pod := byOrdinal[ordinal]; pod != nil {
			fillFromPod(&o, pod, port)
		}
		members = append(members, o)
	}
	return members
}

func fillFromPod(o *observed, pod *corev1.Pod, port intstr.IntOrString) {
	o.podName = pod.Name
	o.exists = true
	o.uid = pod.UID
	o.resourceVersion = pod.ResourceVersion
	o.revision = pod.Labels[appsv1.StatefulSetRevisionLabel]
	o.terminating = pod.DeletionTimestamp != nil
	o.ready = !o.terminating && podReady(pod)
	number, ok := resolvePort(pod, port)
	o.portMissing = !ok
	if ok && pod.Status.PodIP != "" {
		o.address = net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(int(number)))
	}
}

// podOrdinal reads a pod's ordinal from its pod-index label, or else from its name.
func podOrdinal(stsName string, pod *corev1.Pod) (int32, bool) {
	if v, ok := pod.Labels[appsv1.PodIndexLabel]; ok {
		if n, err := strconv.ParseInt(v, 10, 32); err == nil && n >= 0 {
			return int32(n), true
		}
	}
	suffix, ok := strings.CutPrefix(pod.Name, stsName+"-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(suffix, 10, 32)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != suffix {
		return 0, false
	}
	return int32(n), true
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// resolvePort returns the port number spec.port stands for on pod: the number itself, or the
// containerPort of the container port with that name. As for a Service's targetPort, the ports of
// the containers count, then those of sidecars (init containers that restart Always).
func resolvePort(pod *corev1.Pod, port intstr.IntOrString) (int32, bool) {
	if port.Type == intstr.Int {
		return port.IntVal, port.IntVal > 0
	}
	for _, c := range pod.Spec.Containers {
		if number, ok := namedPort(c, port.StrVal); ok {
			return number, true
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			if number, ok := namedPort(c, port.StrVal); ok {
				return number, true
			}
		}
	}
	return 0, false
}

func namedPort(c corev1.Container, name string) (int32, bool) {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort, true
		}
	}
	return 0, false
}

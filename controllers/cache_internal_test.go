package controllers

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

func TestSlimPodKeepsSidecarPorts(t *testing.T) {
	pod := ownedPod()
	pod.Spec.InitContainers = []corev1.Container{
		{Name: "setup", Image: "setup", Ports: []corev1.ContainerPort{{Name: "init", ContainerPort: 1}}},
		{Name: "proxy", Image: "proxy", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
			Ports: []corev1.ContainerPort{{Name: "ws", ContainerPort: 9000}, {ContainerPort: 9001}}},
	}
	got, err := slimPod(pod)
	if err != nil {
		t.Fatal(err)
	}
	want := []corev1.Container{{Name: "proxy", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
		Ports: []corev1.ContainerPort{{Name: "ws", ContainerPort: 9000}}}}
	if init := got.(*corev1.Pod).Spec.InitContainers; !reflect.DeepEqual(init, want) {
		t.Errorf("init containers = %+v, want only the sidecar's named port %+v", init, want)
	}
	if podView(got.(*corev1.Pod)) != podView(pod) {
		t.Errorf("the slim pod's ring view %+v differs from the pod's %+v", podView(got.(*corev1.Pod)), podView(pod))
	}
}

func TestSlimPodPassesTombstones(t *testing.T) {
	tomb := cache.DeletedFinalStateUnknown{Key: "ns/pod", Obj: ownedPod()}
	got, err := slimPod(tomb)
	if err != nil || !reflect.DeepEqual(got, tomb) {
		t.Errorf("slimPod(tombstone) = %v, %v; want it unchanged", got, err)
	}
}

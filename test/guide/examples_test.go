package guide_test

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/test/controlplane"
	"github.com/stablering/stablering/test/install"
)

// kustomize renders the kustomization in dir (relative to the repository) with the control
// plane's kubectl.
func kustomize(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	bin, err := controlplane.BinDir()
	if err != nil {
		if reason := controlplane.SkipReason(); reason != "" {
			t.Skip(reason)
		}
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(bin, "kubectl"), "kustomize", filepath.Join("..", "..", dir)).Output()
	if err != nil {
		t.Fatalf("kubectl kustomize %s: %v", dir, err)
	}
	objs, err := install.Split(out)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// decode converts the object of kind in objs, which must be the only one, strictly into into.
func decode(t *testing.T, objs []*unstructured.Unstructured, kind, name string, into any) {
	t.Helper()
	var found []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d objects %s %s, want 1", len(found), kind, name)
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(found[0].Object, into, true); err != nil {
		t.Fatalf("%s %s: %v", kind, name, err)
	}
}

// TestChatExampleManifests checks what the chat example's manifests promise: what StableRing
// needs of the StatefulSet, a server listening on the pod's IP (so the manifests run unchanged
// on the local cluster, whose pods share the host's network), the restricted Pod Security
// Standard, and a StableRing and Service that match the pods.
func TestChatExampleManifests(t *testing.T) {
	objs := kustomize(t, "examples/chat/deploy")
	for _, o := range objs {
		if o.GetNamespace() != "" {
			t.Errorf("%s %s names namespace %s; the example goes to the namespace of the context", o.GetKind(), o.GetName(), o.GetNamespace())
		}
	}
	var sts appsv1.StatefulSet
	decode(t, objs, "StatefulSet", "chat", &sts)
	var ring v1alpha1.StableRing
	decode(t, objs, "StableRing", "chat", &ring)
	var svc corev1.Service
	decode(t, objs, "Service", "chat", &svc)

	if sts.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType {
		t.Errorf("updateStrategy %q, want OnDelete", sts.Spec.UpdateStrategy.Type)
	}
	if sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("podManagementPolicy %q, want Parallel", sts.Spec.PodManagementPolicy)
	}
	if sts.Spec.ServiceName != svc.Name || svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("serviceName %q, Service %s with clusterIP %q: want the StatefulSet's headless Service", sts.Spec.ServiceName, svc.Name, svc.Spec.ClusterIP)
	}
	for k, v := range svc.Spec.Selector {
		if sts.Spec.Template.Labels[k] != v {
			t.Errorf("the Service selects %s=%s, which the pods do not carry", k, v)
		}
	}
	if ring.Spec.StatefulSetName != sts.Name {
		t.Errorf("the StableRing names StatefulSet %q, want %q", ring.Spec.StatefulSetName, sts.Name)
	}

	pod := sts.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == ring.Spec.Port.String() }) {
		t.Errorf("spec.port %q is no container port name of %v", ring.Spec.Port.String(), c.Ports)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness probe %+v, want GET /readyz", c.ReadinessProbe)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if e := env["POD_IP"]; e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "status.podIP" {
		t.Errorf("POD_IP %+v, want it from the downward API's status.podIP", e)
	}
	if listen := env["LISTEN_ADDR"].Value; !strings.Contains(listen, "$(POD_IP)") {
		t.Errorf("LISTEN_ADDR %q, want the pod's IP, $(POD_IP)", listen)
	}
	if env["POD_NAME"].ValueFrom == nil {
		t.Error("POD_NAME is not set from the downward API")
	}

	psc, sc := pod.SecurityContext, c.SecurityContext
	switch {
	case psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot:
		t.Error("the pod does not run as non-root")
	case psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Error("the pod has no RuntimeDefault seccomp profile")
	case sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("the container may escalate privileges")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}):
		t.Error("the container does not drop all capabilities")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("the container's root filesystem is writable")
	}
}

// TestLocalClusterInstall checks that examples/localcluster is config/default with the gateway
// listening on its pod's IP, on the proxy and admin ports.
func TestLocalClusterInstall(t *testing.T) {
	objs := kustomize(t, "examples/localcluster")
	var gw appsv1.Deployment
	decode(t, objs, "Deployment", "stablering-gateway", &gw)
	c := gw.Spec.Template.Spec.Containers[0]
	last := map[string]string{} // the last value of each flag wins
	for _, arg := range c.Args {
		if name, value, ok := strings.Cut(arg, "="); ok {
			last[name] = value
		}
	}
	for _, flag := range []string{"--listen", "--admin"} {
		if !strings.HasPrefix(last[flag], "[$(POD_IP)]:") {
			t.Errorf("the gateway's last %s is %q, want the pod's IP", flag, last[flag])
		}
	}
	if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
		return e.Name == "POD_IP" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "status.podIP"
	}) {
		t.Errorf("the gateway has no POD_IP from status.podIP: %+v", c.Env)
	}
	if len(objs) != len(kustomize(t, "config/default")) {
		t.Error("examples/localcluster does not install what config/default does")
	}
}

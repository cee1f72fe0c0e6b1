package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/controllers"
	"github.com/stablering/stablering/test/controlplane"
)

// TestConvertLive converts the Ingresses of a real cluster's namespace: the backend Service's
// selector leads to the StatefulSet, the rings it prints are accepted by the API server, and an
// Ingress in front of a Deployment is refused with why, on stderr.
func TestConvertLive(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	if reason := controlplane.SkipReason(); reason != "" {
		t.Skip(reason)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cp, err := controlplane.Start(ctx, controlplane.Options{CRDPaths: []string{filepath.Join("..", "..", "config", "crd", "bases")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cp.Stop(); err != nil {
			t.Error(err)
		}
	})
	scheme, err := controllers.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	k8s, err := client.New(cp.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	const ns = "migrate"
	pod := func(app string) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: app, Image: "example.com/" + app}}},
		}
	}
	service := func(app string) *corev1.Service {
		return &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": app},
				Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
			},
		}
	}
	ingress := func(name, app string) *networkingv1.Ingress {
		return &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: map[string]string{"nginx.ingress.kubernetes.io/upstream-hash-by": "$http_x_room"}},
			Spec: networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{
				Service: &networkingv1.IngressServiceBackend{Name: app, Port: networkingv1.ServiceBackendPort{Name: "http"}},
			}},
		}
	}
	selector := func(app string) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
	}
	for _, obj := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "rooms", Namespace: ns}, Spec: appsv1.StatefulSetSpec{Selector: selector("rooms"), Template: pod("rooms")}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns}, Spec: appsv1.DeploymentSpec{Selector: selector("web"), Template: pod("web")}},
		service("rooms"), service("web"), ingress("rooms", "rooms"), ingress("web", "web"),
	} {
		if err := k8s.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	stablering := func(args ...string) (int, string, string) {
		var stdout, stderr strings.Builder
		code := run(append([]string{"--kubeconfig", cp.KubeconfigPath, "-n", ns, "convert"}, args...), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}

	code, stdout, stderr := stablering()
	if code != 0 {
		t.Fatalf("convert: exit %d, stderr:\n%s", code, stderr)
	}
	objs, err := decodeRings(stdout)
	if err != nil {
		t.Fatalf("%v in:\n%s", err, stdout)
	}
	if len(objs) != 1 {
		t.Fatalf("%d rings, want 1:\n%s", len(objs), stdout)
	}
	sr := objs[0]
	if sr.Name != "rooms" || sr.Spec.StatefulSetName != "rooms" || sr.Spec.Port != intstr.FromInt32(8080) ||
		sr.Spec.Key != (v1alpha1.KeySpec{Source: v1alpha1.KeySourceHeader, Name: "X-Room"}) {
		t.Errorf("ring %s: spec %+v, want StatefulSet rooms, port 8080, header X-Room", sr.Name, sr.Spec)
	}
	if err := k8s.Create(ctx, &sr); err != nil {
		t.Errorf("the API server refused the printed ring: %v", err)
	}
	if !strings.Contains(stderr, "not converted: ingress migrate/web default backend: Service web selects the pods of Deployment web") {
		t.Errorf("stderr does not say why ingress web was not converted:\n%s", stderr)
	}

	if code, _, stderr := stablering("web"); code != 1 || !strings.Contains(stderr, "no Ingress converted") {
		t.Errorf("convert web: exit %d, stderr %q; want exit 1 and no Ingress converted", code, stderr)
	}
	if code, _, stderr := stablering("-A", "-f", "-"); code != 2 {
		t.Errorf("convert -A -f -: exit %d, stderr %q; want 2", code, stderr)
	}
}

// decodeRings strictly decodes the YAML documents convert prints.
func decodeRings(out string) ([]v1alpha1.StableRing, error) {
	var rings []v1alpha1.StableRing
	for _, doc := range strings.Split(out, "---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var sr v1alpha1.StableRing
		if err := yaml.UnmarshalStrict([]byte(doc), &sr); err != nil {
			return nil, err
		}
		rings = append(rings, sr)
	}
	return rings, nil
}

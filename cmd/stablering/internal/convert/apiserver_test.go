package convert

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/test/controlplane"
)

// TestGoldenRingsValid creates every ring of the golden files with a server-side dry run against
// a real kube-apiserver with the StableRing CRD, so the CRD's schema and CEL rules judge what
// convert prints.
func TestGoldenRingsValid(t *testing.T) {
	if reason := controlplane.SkipReason(); reason != "" {
		t.Skip(reason)
	}
	goldens, err := filepath.Glob("testdata/*.out.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cp, err := controlplane.Start(ctx, controlplane.Options{CRDPaths: []string{filepath.Join("..", "..", "..", "..", "config", "crd", "bases")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cp.Stop(); err != nil {
			t.Error(err)
		}
	})
	dyn, err := dynamic.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	clients, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}
	rings := dyn.Resource(v1alpha1.GroupVersion.WithResource("stablerings"))
	created := 0
	for _, golden := range goldens {
		data, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		var out goldenOut
		if err := yaml.UnmarshalStrict(data, &out); err != nil {
			t.Fatalf("%s: %v", golden, err)
		}
		for _, ring := range out.Rings {
			obj := &unstructured.Unstructured{Object: ring}
			// A dry run persists nothing, so the namespace must exist for real.
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: obj.GetNamespace()}}
			if _, err := clients.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
			if _, err := rings.Namespace(obj.GetNamespace()).Create(ctx, obj, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
				t.Errorf("%s: ring %s/%s refused by the API server: %v", golden, obj.GetNamespace(), obj.GetName(), err)
			}
			created++
		}
	}
	if created == 0 {
		t.Fatal("no ring in the golden files")
	}
	t.Logf("%d rings accepted", created)
}

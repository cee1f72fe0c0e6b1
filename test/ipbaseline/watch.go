package ipbaseline

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"
)

// Watch keeps the router's ring in step with the pods in namespace that match selector, as an
// ingress controller follows a Service's endpoints, until ctx ends. It returns once the first
// ring is built.
func (r *Router) Watch(ctx context.Context, cs kubernetes.Interface, namespace string, selector labels.Selector) error {
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0,
		informers.WithNamespace(namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector.String() }))
	pods := factory.Core().V1().Pods()
	resync := func() {
		list, err := pods.Lister().List(labels.Everything())
		if err != nil {
			return
		}
		items := make([]corev1.Pod, 0, len(list))
		for _, p := range list {
			items = append(items, *p)
		}
		_ = r.Update(items) // on an error (more pods than a ring holds) the previous ring stays
	}
	if _, err := pods.Informer().AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { resync() },
		UpdateFunc: func(any, any) { resync() },
		DeleteFunc: func(any) { resync() },
	}); err != nil {
		return fmt.Errorf("ipbaseline: watching pods: %w", err)
	}
	factory.Start(ctx.Done())
	if !toolscache.WaitForCacheSync(ctx.Done(), pods.Informer().HasSynced) {
		return fmt.Errorf("ipbaseline: pod cache did not sync: %w", ctx.Err())
	}
	resync()
	return nil
}

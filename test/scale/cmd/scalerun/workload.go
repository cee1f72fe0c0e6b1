package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stablering/stablering/api/v1alpha1"
)

// unrelatedNamespace holds the pods of other workloads, bound to a node that does not exist so
// that no kubelet (and no simulator) touches them.
const unrelatedNamespace = "unrelated"

// createWorkers is how many objects are created in parallel.
const createWorkers = 8

// parallel runs f(i) for i in [0, n) on createWorkers goroutines and returns the first error.
func parallel(n int, f func(i int) error) error {
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
		next  = make(chan int)
	)
	for range createWorkers {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// ensureUnrelatedPods makes the unrelated namespace hold at least p pods, each the size of a
// typical application pod (labels, annotations, environment, probes, status).
func ensureUnrelatedPods(ctx context.Context, c client.Client, have, p int) error {
	if have == 0 && p > 0 {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: unrelatedNamespace}}
		if err := client.IgnoreAlreadyExists(c.Create(ctx, ns)); err != nil {
			return err
		}
	}
	return parallel(p-have, func(i int) error {
		pod := unrelatedPod(have + i)
		return client.IgnoreAlreadyExists(c.Create(ctx, pod))
	})
}

func unrelatedPod(i int) *corev1.Pod {
	env := make([]corev1.EnvVar, 0, 10)
	for k := range 10 {
		env = append(env, corev1.EnvVar{Name: fmt.Sprintf("SETTING_%d", k), Value: strings.Repeat("v", 32)})
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("web-%05d", i), Namespace: unrelatedNamespace,
			Labels:      map[string]string{"app": "web", "tier": "frontend", "pod-template-hash": "5d9c7b8f6"},
			Annotations: map[string]string{"example.com/config": strings.Repeat("c", 256)},
		},
		Spec: corev1.PodSpec{
			NodeName: "elsewhere",
			Containers: []corev1.Container{{
				Name: "web", Image: "example.com/web:v1", Env: env,
				Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromString("http")}}},
			}},
		},
	}
}

// memberPort is the port of a ring's pods that its StableRing's spec.port names.
var memberPort = corev1.ContainerPort{Name: "http", ContainerPort: 8080}

// ringName is the name of the i-th StatefulSet and StableRing of a point.
func ringName(i int) string { return "ring-" + strconv.Itoa(i) }

// createRings creates r StatefulSets of n pods with a StableRing each in namespace, paced in
// batches of a tenth drained for a second (0 is not expressible: the API defaults it to 10), so
// a rollout takes ten batches.
func createRings(ctx context.Context, c client.Client, namespace string, r, n int) error {
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		return err
	}
	return parallel(r, func(i int) error {
		labels := map[string]string{"app": ringName(i)}
		sts := &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Name: ringName(i), Namespace: namespace},
			Spec: appsv1.StatefulSetSpec{
				Replicas: ptr.To(int32(n)), ServiceName: ringName(i),
				PodManagementPolicy: appsv1.ParallelPodManagement,
				UpdateStrategy:      appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType},
				Selector:            &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{
						TerminationGracePeriodSeconds: ptr.To[int64](0),
						Containers: []corev1.Container{{
							Name: "chat", Image: "example.com/chat:v1",
							Ports: []corev1.ContainerPort{memberPort},
							Env:   []corev1.EnvVar{{Name: "VERSION", Value: "1"}},
						}},
					},
				},
			},
		}
		if err := c.Create(ctx, sts); err != nil {
			return err
		}
		return c.Create(ctx, stableRing(namespace, i))
	})
}

// stableRing is the i-th StableRing of a namespace, naming the StatefulSet ringName(i) and its
// memberPort.
func stableRing(namespace string, i int) *v1alpha1.StableRing {
	return &v1alpha1.StableRing{
		ObjectMeta: metav1.ObjectMeta{Name: ringName(i), Namespace: namespace},
		Spec: v1alpha1.StableRingSpec{
			StatefulSetName: ringName(i),
			Port:            intstr.FromString(memberPort.Name),
			Key:             v1alpha1.KeySpec{Source: v1alpha1.KeySourceQuery, Name: "room"},
			Route:           v1alpha1.RouteSpec{PathPrefix: "/" + namespace + "/" + ringName(i)},
			Rollout: v1alpha1.RolloutSpec{
				BatchSize: ptr.To(intstr.FromString("10%")), DrainSeconds: 1, ProgressDeadlineSeconds: 600,
			},
		},
	}
}

// startRollout changes the pod template of every StatefulSet of namespace.
func startRollout(ctx context.Context, c client.Client, namespace string, r int) error {
	return parallel(r, func(i int) error {
		return retry.RetryOnConflict(retry.DefaultRetry, func() error {
			sts := &appsv1.StatefulSet{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: ringName(i)}, sts); err != nil {
				return err
			}
			sts.Spec.Template.Spec.Containers[0].Env[0].Value = "2"
			return c.Update(ctx, sts)
		})
	})
}

// waitRings waits until every StableRing of namespace has n Serving members with the rollout
// Complete at the StatefulSet's update revision (updated), and returns them.
func waitRings(ctx context.Context, c client.Client, namespace string, r, n int, timeout time.Duration) ([]v1alpha1.StableRing, error) {
	deadline := time.Now().Add(timeout)
	for {
		list := &v1alpha1.StableRingList{}
		if err := c.List(ctx, list, client.InNamespace(namespace)); err != nil {
			return nil, err
		}
		done := len(list.Items) == r
		for _, sr := range list.Items {
			st := sr.Status
			done = done && int(st.ReadyMembers) == n && int(st.UpdatedMembers) == n &&
				st.Rollout != nil && st.Rollout.Phase == v1alpha1.RolloutComplete
		}
		if done {
			return list.Items, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the rings of %s were not ready within %s", namespace, timeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// deleteNamespace deletes namespace and waits until its pods are gone.
func deleteNamespace(ctx context.Context, c client.Client, namespace string) error {
	if err := c.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}); err != nil {
		return err
	}
	for range 600 {
		pods := &corev1.PodList{}
		if err := c.List(ctx, pods, client.InNamespace(namespace)); err != nil || len(pods.Items) == 0 {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
	return fmt.Errorf("the pods of %s are not gone", namespace)
}

package controllers

import (
	"context"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/stablering/stablering/api/v1alpha1"
)

const (
	// StatefulSetNameField indexes StableRings by spec.statefulSetName.
	StatefulSetNameField = "spec.statefulSetName"
	// podStatefulSetField indexes pods by the name of the StatefulSet that controls them.
	podStatefulSetField = "metadata.controller.statefulSet"
)

// ControllerName names the controller in logs, metrics and events.
const ControllerName = "stablering"

// reconcileWorkers is how many StableRings are reconciled at once. A reconcile spends most of
// its time waiting for the API server's answer to a status write, so one ring's rollout step does
// not hold up the status of the others.
const reconcileWorkers = 4

// SetupWithManager registers the field indexes, the pod deleter and the controller with mgr.
// Watches are narrow: a StatefulSet maps to the StableRings that name it, and a pod to the
// StableRings of the StatefulSet that controls it, through indexes; pod and StatefulSet updates
// that cannot change a ring are dropped.
func (r *StableRingReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	r.deleter = newPodDeleter(mgr.GetClient(), mgr.GetLogger().WithName("pod-deleter"))
	if err := mgr.Add(r.deleter); err != nil {
		return err
	}
	indexer := mgr.GetFieldIndexer()
	if err := indexer.IndexField(ctx, &v1alpha1.StableRing{}, StatefulSetNameField, func(o client.Object) []string {
		return []string{o.(*v1alpha1.StableRing).Spec.StatefulSetName}
	}); err != nil {
		return err
	}
	if err := indexer.IndexField(ctx, &v1alpha1.MemberSlice{}, memberSliceRingField, func(o client.Object) []string {
		return []string{o.(*v1alpha1.MemberSlice).Ring}
	}); err != nil {
		return err
	}
	if err := indexer.IndexField(ctx, &corev1.Pod{}, podStatefulSetField, func(o client.Object) []string {
		if name, ok := controllingStatefulSet(o); ok {
			return []string{name}
		}
		return nil
	}); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		WithOptions(controller.Options{MaxConcurrentReconciles: reconcileWorkers}).
		For(&v1alpha1.StableRing{}).
		// A ring's MemberSlices are its own: a change by anyone else is undone, a deleted one
		// written again.
		Owns(&v1alpha1.MemberSlice{}).
		// A StableRing that follows another's rollout takes it from the other's status, and one
		// becomes the owner when the older one goes: any change to a StableRing reconciles the
		// others naming the same StatefulSet.
		Watches(&v1alpha1.StableRing{}, handler.EnqueueRequestsFromMapFunc(r.otherRings)).
		Watches(&appsv1.StatefulSet{}, handler.EnqueueRequestsFromMapFunc(r.ringsOfStatefulSet),
			builder.WithPredicates(predicate.Funcs{UpdateFunc: statefulSetChanged})).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(r.ringsOfPod),
			builder.WithPredicates(predicate.Funcs{UpdateFunc: podChanged})).
		// The deleter hands back the StableRings whose pods changed before it could delete them.
		WatchesRawSource(r.deleter.source()).
		Complete(r)
}

// controllingStatefulSet returns the name of the StatefulSet controlling o.
func controllingStatefulSet(o client.Object) (string, bool) {
	owner := metav1.GetControllerOf(o)
	if owner == nil || owner.Kind != "StatefulSet" || owner.APIVersion != appsv1.SchemeGroupVersion.String() {
		return "", false
	}
	return owner.Name, true
}

func (r *StableRingReconciler) ringsOfStatefulSet(ctx context.Context, o client.Object) []reconcile.Request {
	return r.ringsNaming(ctx, o.GetNamespace(), o.GetName())
}

// otherRings returns requests for the other StableRings naming the StatefulSet that o names.
func (r *StableRingReconciler) otherRings(ctx context.Context, o client.Object) []reconcile.Request {
	sr, ok := o.(*v1alpha1.StableRing)
	if !ok {
		return nil
	}
	requests := r.ringsNaming(ctx, sr.Namespace, sr.Spec.StatefulSetName)
	return slices.DeleteFunc(requests, func(req reconcile.Request) bool { return req.Name == sr.Name })
}

func (r *StableRingReconciler) ringsOfPod(ctx context.Context, o client.Object) []reconcile.Request {
	name, ok := controllingStatefulSet(o)
	if !ok {
		return nil
	}
	return r.ringsNaming(ctx, o.GetNamespace(), name)
}

// ringsNaming returns requests for the StableRings in namespace that name StatefulSet sts.
func (r *StableRingReconciler) ringsNaming(ctx context.Context, namespace, sts string) []reconcile.Request {
	rings := &v1alpha1.StableRingList{}
	if err := r.Client.List(ctx, rings, client.InNamespace(namespace), client.MatchingFields{StatefulSetNameField: sts}); err != nil {
		log.FromContext(ctx).Error(err, "listing the StableRings of a StatefulSet", "namespace", namespace, "statefulSet", sts)
		return nil
	}
	requests := make([]reconcile.Request, 0, len(rings.Items))
	for _, sr := range rings.Items {
		requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&sr)})
	}
	return requests
}

// statefulSetChanged passes updates that can change a ring: the spec (replicas, ordinals,
// strategy, template) or the revisions the StatefulSet controller reports.
func statefulSetChanged(e event.UpdateEvent) bool {
	before, okBefore := e.ObjectOld.(*appsv1.StatefulSet)
	after, okAfter := e.ObjectNew.(*appsv1.StatefulSet)
	if !okBefore || !okAfter {
		return true
	}
	return before.Generation != after.Generation ||
		before.Status.ObservedGeneration != after.Status.ObservedGeneration ||
		before.Status.CurrentRevision != after.Status.CurrentRevision ||
		before.Status.UpdateRevision != after.Status.UpdateRevision
}

// podChanged passes pod updates that can change a ring: readiness, IP, deletion, labels (revision
// and ordinal) and owner.
func podChanged(e event.UpdateEvent) bool {
	before, okBefore := e.ObjectOld.(*corev1.Pod)
	after, okAfter := e.ObjectNew.(*corev1.Pod)
	if !okBefore || !okAfter {
		return true
	}
	return podView(before) != podView(after)
}

// podRingView is the part of a pod a ring depends on.
type podRingView struct {
	ready, deleting bool
	ip, revision    string
	index, owner    string
}

func podView(pod *corev1.Pod) podRingView {
	owner, _ := controllingStatefulSet(pod)
	v := podRingView{
		deleting: pod.DeletionTimestamp != nil,
		ip:       pod.Status.PodIP,
		revision: pod.Labels[appsv1.StatefulSetRevisionLabel],
		index:    pod.Labels[appsv1.PodIndexLabel],
		owner:    owner,
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			v.ready = c.Status == corev1.ConditionTrue
		}
	}
	return v
}

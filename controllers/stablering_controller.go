// Package controllers runs the StableRing controller. It resolves each StableRing from its
// StatefulSet and that StatefulSet's pods into status, and paces the StatefulSet's rollouts by
// deleting outdated pods batch by batch. The decisions are pure functions in package ring; this
// package reads the cache, persists status and carries the decisions out.
package controllers

import (
	"context"
	"fmt"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/controllers/ring"
)

// The manager's permissions, least privilege: reads come from the informer cache (list and
// watch, no get); status is written with update, and a ring's MemberSlices are created, updated
// and deleted; pods are only deleted (by the podDeleter). `make manifests`
// generates config/rbac/role.yaml from these markers.
// +kubebuilder:rbac:groups=ring.stablering.io,resources=stablerings,verbs=list;watch
// +kubebuilder:rbac:groups=ring.stablering.io,resources=stablerings/status,verbs=update
// +kubebuilder:rbac:groups=ring.stablering.io,resources=memberslices,verbs=list;watch;create;update;delete
// +kubebuilder:rbac:groups=apps,resources=statefulsets,verbs=list;watch
// +kubebuilder:rbac:groups="",resources=pods,verbs=list;watch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// conflictRetry is how soon a reconcile that lost an optimistic-locking race runs again.
const conflictRetry = 200 * time.Millisecond

// StableRingReconciler resolves StableRings and paces their rollouts.
type StableRingReconciler struct {
	// Client reads from the manager's cache and writes to the API server.
	Client client.Client
	// Recorder emits events about StableRings.
	Recorder events.EventRecorder
	// Clock tells the time that drains, pauses and progress deadlines are measured on and status
	// times are written with; nil is the real clock.
	Clock clock.PassiveClock

	writes statusWrites
	// deleter deletes the pods that Reconcile hands over; SetupWithManager sets it.
	deleter *podDeleter
}

// Reconcile brings one StableRing's members and status up to date and takes the rollout's next
// step. The MemberSlices that changed are written first, then status, which names the slices'
// versions, both with optimistic locking; status is persisted before any pod is deleted: a
// restarted controller finds all progress in status and never deletes a pod twice. The pods to
// delete are then handed to the deleter, and the reconcile returns without waiting for their
// deletion.
func (r *StableRingReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	sr := &v1alpha1.StableRing{}
	if err := r.Client.Get(ctx, req.NamespacedName, sr); err != nil {
		if apierrors.IsNotFound(err) {
			r.writes.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if r.writes.behind(req.NamespacedName, sr.ResourceVersion) {
		return ctrl.Result{}, nil // the last status write's event brings the StableRing back
	}
	cached, err := r.memberSlices(ctx, sr)
	if err != nil {
		return ctrl.Result{}, err
	}
	if r.writes.slicesBehind(req.NamespacedName, cached) {
		return ctrl.Result{RequeueAfter: conflictRetry}, nil // the slices' events are on their way
	}
	sts, err := r.statefulSet(ctx, sr)
	if err != nil {
		return ctrl.Result{}, err
	}
	pods, err := r.pods(ctx, sts)
	if err != nil {
		return ctrl.Result{}, err
	}
	owner, err := r.rolloutOwner(ctx, sr)
	if err != nil {
		return ctrl.Result{}, err
	}
	prev := previousMembers(sr, cached)
	res := ring.Compute(ring.Input{Ring: sr, Members: prev, StatefulSet: sts, Pods: pods, Owner: owner, Now: r.now()})
	if wait := r.writes.hold(req.NamespacedName, sr.Status, prev, res); wait > 0 {
		// Events come with the write; the pods to delete are in the status already written.
		r.deleter.add(req.NamespacedName, res.Delete)
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	if err := r.writeSlices(ctx, sr, cached, res.Slices); err != nil {
		return writeFailed(ctx, err)
	}
	if err := r.writeStatus(ctx, sr, res.Status); err != nil {
		return writeFailed(ctx, err)
	}
	if err := r.deleteSurplusSlices(ctx, sr, cached, res.Slices); err != nil {
		return ctrl.Result{}, err
	}
	r.emit(sr, res.Events)
	r.deleter.add(req.NamespacedName, res.Delete)
	return ctrl.Result{RequeueAfter: res.RequeueAfter}, nil
}

// now is the time on the reconciler's clock.
func (r *StableRingReconciler) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}

// statefulSet returns the StatefulSet sr names, or nil if it does not exist.
func (r *StableRingReconciler) statefulSet(ctx context.Context, sr *v1alpha1.StableRing) (*appsv1.StatefulSet, error) {
	sts := &appsv1.StatefulSet{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: sr.Namespace, Name: sr.Spec.StatefulSetName}, sts)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("getting StatefulSet %s: %w", sr.Spec.StatefulSetName, err)
	}
	return sts, nil
}

// rolloutOwner returns the StableRing that paces the rollouts of the StatefulSet sr names when it
// is another StableRing (see ring.RolloutOwner), and nil when it is sr.
func (r *StableRingReconciler) rolloutOwner(ctx context.Context, sr *v1alpha1.StableRing) (*v1alpha1.StableRing, error) {
	rings := &v1alpha1.StableRingList{}
	if err := r.Client.List(ctx, rings, client.InNamespace(sr.Namespace), client.MatchingFields{StatefulSetNameField: sr.Spec.StatefulSetName}); err != nil {
		return nil, fmt.Errorf("listing the StableRings of StatefulSet %s: %w", sr.Spec.StatefulSetName, err)
	}
	if !slices.ContainsFunc(rings.Items, func(o v1alpha1.StableRing) bool { return o.UID == sr.UID }) {
		rings.Items = append(rings.Items, *sr) // the index lags the object just read
	}
	owner := ring.RolloutOwner(rings.Items)
	if owner == nil || owner.UID == sr.UID {
		return nil, nil
	}
	return owner, nil
}

// pods returns the pods the StatefulSet controls. They are the cache's own objects, not copies
// (a deep copy of a thousand pods was the largest part of a reconcile's CPU, docs/scale.md):
// they must only be read, as ring.Compute does.
func (r *StableRingReconciler) pods(ctx context.Context, sts *appsv1.StatefulSet) ([]corev1.Pod, error) {
	if sts == nil {
		return nil, nil
	}
	list := &corev1.PodList{}
	if err := r.Client.List(ctx, list, client.InNamespace(sts.Namespace), client.MatchingFields{podStatefulSetField: sts.Name},
		client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing the pods of StatefulSet %s: %w", sts.Name, err)
	}
	pods := list.Items[:0]
	for _, pod := range list.Items {
		if owner := metav1.GetControllerOf(&pod); owner != nil && owner.UID == sts.UID {
			pods = append(pods, pod)
		}
	}
	return pods, nil
}

// writeStatus persists status if it differs from the StableRing's, and records the write. The
// update carries the StableRing's resourceVersion, so a decision taken from a stale cache is
// rejected, not written.
func (r *StableRingReconciler) writeStatus(ctx context.Context, sr *v1alpha1.StableRing, status v1alpha1.StableRingStatus) error {
	if equality.Semantic.DeepEqual(sr.Status, status) {
		return nil
	}
	replaced := sr.ResourceVersion
	sr.Status = status
	if err := r.Client.Status().Update(ctx, sr); err != nil {
		return fmt.Errorf("updating the status of StableRing %s: %w", sr.Name, err)
	}
	r.writes.wrote(client.ObjectKeyFromObject(sr), replaced)
	return nil
}

func (r *StableRingReconciler) emit(sr *v1alpha1.StableRing, evs []ring.Event) {
	for _, e := range evs {
		r.Recorder.Eventf(sr, nil, e.Type, e.Reason, e.Action, "%s", e.Message)
	}
}

// writeFailed decides what a failed write of status or a MemberSlice means: a conflict (or a
// slice that exists already) is retried soon from a fresher cache; a write to an object that is
// gone needs nothing more (a StableRing that is gone has nothing left to do, and the deletion of
// a MemberSlice reconciles its ring again); any other error is retried with the workqueue's
// backoff.
func writeFailed(ctx context.Context, err error) (ctrl.Result, error) {
	switch {
	case apierrors.IsNotFound(err):
		return ctrl.Result{}, nil
	case apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err):
		log.FromContext(ctx).V(1).Info("write conflict; retrying from a fresher cache", "error", err.Error())
		return ctrl.Result{RequeueAfter: conflictRetry}, nil
	default:
		return ctrl.Result{}, err
	}
}

package controllers

import (
	"context"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/controllers/ring"
)

// How the pods of a batch are deleted (see podDeleter).
const (
	// deleteWorkers is how many pods are deleted at once: a batch of 100 pods takes a few round
	// trips to the API server instead of one per pod.
	deleteWorkers = 16
	// deleteRetryBase and deleteRetryMax bound the backoff of a pod whose deletion failed: the
	// delay doubles from the base with each failure, up to the maximum.
	deleteRetryBase = 100 * time.Millisecond
	deleteRetryMax  = 30 * time.Second
)

// podDeletion is a pod that a StableRing's rollout deletes, as the decision saw it. Equal
// deletions are one item of the queue, so a pod that Compute hands over again while its deletion
// is pending is deleted once.
type podDeletion struct {
	stableRing types.NamespacedName // the pod is in the StableRing's namespace
	pod        ring.PodRef
}

// podDeleter deletes the pods of rollout batches outside Reconcile. Reconcile persists status,
// which records the pods' UIDs, and then hands the pods over; the reconcile returns at once while
// deleteWorkers workers delete them. Each deletion carries the decision's UID and resourceVersion
// as preconditions, so a pod is never deleted twice and a replacement never deleted:
//
//   - deleted, or already gone: done; the pod's events reconcile the StableRing.
//   - a precondition failed (the pod changed since the decision): dropped, and the StableRing is
//     reconciled again to decide from the pod as it is now.
//   - any other error: logged and retried with backoff (deleteRetryBase doubling to
//     deleteRetryMax) until one of the above.
//
// A podDeleter is a manager Runnable that runs only on the elected leader, like the controller.
// When the manager stops, pending deletions are dropped: status has the pods' UIDs, and the next
// leader deletes those still live.
type podDeleter struct {
	client client.Client
	log    logr.Logger
	queue  workqueue.TypedRateLimitingInterface[podDeletion]
	// reconcile receives the StableRings to reconcile again (see decideAgain).
	reconcile chan event.TypedGenericEvent[*v1alpha1.StableRing]
}

func newPodDeleter(c client.Client, log logr.Logger) *podDeleter {
	return &podDeleter{
		client: c,
		log:    log,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[podDeletion](deleteRetryBase, deleteRetryMax),
			workqueue.TypedRateLimitingQueueConfig[podDeletion]{Name: ControllerName + "-pod-deletions"},
		),
		reconcile: make(chan event.TypedGenericEvent[*v1alpha1.StableRing]),
	}
}

// source returns the source that the controller watches to reconcile the StableRings the
// deleter hands back.
func (d *podDeleter) source() source.Source {
	return source.Channel(d.reconcile, &handler.TypedEnqueueRequestForObject[*v1alpha1.StableRing]{})
}

// add hands over the pods that StableRing key deletes; its status must already record them.
func (d *podDeleter) add(key types.NamespacedName, pods []ring.PodRef) {
	for _, pod := range pods {
		d.queue.Add(podDeletion{stableRing: key, pod: pod})
	}
}

// NeedLeaderElection keeps the deleter to the elected leader (manager.LeaderElectionRunnable).
func (d *podDeleter) NeedLeaderElection() bool { return true }

// Start deletes pods until ctx is done, then stops the queue and waits for the deletions in
// flight (manager.Runnable).
func (d *podDeleter) Start(ctx context.Context) error {
	var workers sync.WaitGroup
	for range deleteWorkers {
		workers.Go(func() {
			for d.next(ctx) {
			}
		})
	}
	<-ctx.Done()
	d.queue.ShutDown()
	workers.Wait()
	return nil
}

// next deletes the next pod of the queue, and reports false when the queue has shut down.
func (d *podDeleter) next(ctx context.Context) bool {
	item, shutdown := d.queue.Get()
	if shutdown {
		return false
	}
	defer d.queue.Done(item)
	log := d.log.WithValues("stableRing", item.stableRing, "pod", item.pod.Name, "uid", item.pod.UID)
	err := d.delete(ctx, item)
	switch {
	case err == nil:
		log.Info("deleted pod for the rollout")
		d.queue.Forget(item)
	case apierrors.IsNotFound(err):
		d.queue.Forget(item)
	case apierrors.IsConflict(err):
		log.V(1).Info("pod changed since the decision; deciding again", "error", err.Error())
		d.queue.Forget(item)
		d.decideAgain(ctx, item.stableRing)
	case ctx.Err() != nil:
		// The manager is stopping; the next leader deletes the pod.
	default:
		log.Error(err, "deleting pod for the rollout; retrying", "failures", d.queue.NumRequeues(item)+1)
		d.queue.AddRateLimited(item)
	}
	return true
}

// delete deletes the pod on the condition that it is still exactly what the decision saw: same
// UID (not a replacement) and same resourceVersion (not already being deleted).
func (d *podDeleter) delete(ctx context.Context, item podDeletion) error {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: item.stableRing.Namespace, Name: item.pod.Name}}
	return d.client.Delete(ctx, pod, client.Preconditions{UID: &item.pod.UID, ResourceVersion: &item.pod.ResourceVersion})
}

// decideAgain has the controller reconcile StableRing key. A pod's change does not always
// reconcile its StableRing (the controller drops updates that cannot change a ring), so a
// deletion that lost its precondition to such a change would otherwise wait for the next
// unrelated event.
func (d *podDeleter) decideAgain(ctx context.Context, key types.NamespacedName) {
	sr := &v1alpha1.StableRing{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	select {
	case d.reconcile <- event.TypedGenericEvent[*v1alpha1.StableRing]{Object: sr}:
	case <-ctx.Done():
	}
}

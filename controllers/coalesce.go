package controllers

import (
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"

	"github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/controllers/ring"
)

// statusCoalesceWindow is the least time between two status writes of one StableRing when the
// second may wait (see ring.Deferrable): the pods of a rollout batch come back one by one, and
// their members reach Serving in one write per window instead of one write per pod event.
const statusCoalesceWindow = time.Second

// statusWrites remembers each StableRing's last successful status write: when (on the real
// clock: coalescing spares the API server, it is not part of the ring's timing), and the
// resourceVersion it replaced. It decides which writes wait, and tells a cache that has not yet
// seen the last write. The zero value is ready to use.
type statusWrites struct {
	mu   sync.Mutex
	last map[types.NamespacedName]statusWrite
}

type statusWrite struct {
	at time.Time
	// replaced is the resourceVersion the write replaced: a cache that still shows it has not
	// seen the write yet.
	replaced string
}

// hold returns how long the write of res over prev must wait, or 0 to write now. A write that
// records a pod to delete never waits: a pod is deleted only once status has its UID.
func (w *statusWrites) hold(key types.NamespacedName, prev v1alpha1.StableRingStatus, res ring.Result) time.Duration {
	if !recorded(prev, res.Delete) || equality.Semantic.DeepEqual(prev, res.Status) || !ring.Deferrable(prev, res.Status) {
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return max(time.Until(w.last[key].at.Add(statusCoalesceWindow)), 0)
}

// recorded reports whether status records the UID of every pod of pods. Such pods may be deleted
// without a write: a pod whose deletion is still pending is decided again by every reconcile of
// its batch until the cache sees it go.
func recorded(status v1alpha1.StableRingStatus, pods []ring.PodRef) bool {
	if len(pods) == 0 {
		return true
	}
	if status.Rollout == nil {
		return false
	}
	uids := make(map[types.UID]bool, len(status.Rollout.DeletedPods))
	for _, d := range status.Rollout.DeletedPods {
		uids[types.UID(d.UID)] = true
	}
	return !slices.ContainsFunc(pods, func(p ring.PodRef) bool { return !uids[p.UID] })
}

// wrote records a successful status write that replaced resourceVersion replaced.
func (w *statusWrites) wrote(key types.NamespacedName, replaced string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last == nil {
		w.last = map[types.NamespacedName]statusWrite{}
	}
	w.last[key] = statusWrite{at: time.Now(), replaced: replaced}
}

// behind reports whether a StableRing read at resourceVersion is the one the last status write
// replaced: the cache has not seen that write yet, and the write's own watch event reconciles
// the StableRing again once it has. Deciding from it would only lose the write's conflict.
func (w *statusWrites) behind(key types.NamespacedName, resourceVersion string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	last, ok := w.last[key]
	return ok && last.replaced == resourceVersion
}

// forget drops what is remembered of a StableRing that is gone.
func (w *statusWrites) forget(key types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.last, key)
}

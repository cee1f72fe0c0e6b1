package controllers

import (
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
// deletes pods never waits.
func (w *statusWrites) hold(key types.NamespacedName, prev v1alpha1.StableRingStatus, res ring.Result) time.Duration {
	if len(res.Delete) > 0 || equality.Semantic.DeepEqual(prev, res.Status) || !ring.Deferrable(prev, res.Status) {
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return max(time.Until(w.last[key].at.Add(statusCoalesceWindow)), 0)
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

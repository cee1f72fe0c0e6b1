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

// statusWrites remembers when each StableRing's status was last written, on the real clock
// (coalescing spares the API server; it is not part of the ring's timing), and decides which
// writes wait. The zero value is ready to use.
type statusWrites struct {
	mu   sync.Mutex
	last map[types.NamespacedName]time.Time
}

// hold returns how long the write of res over prev must wait, or 0 to write now; a write now
// is recorded as done. A write that deletes pods never waits.
func (w *statusWrites) hold(key types.NamespacedName, prev v1alpha1.StableRingStatus, res ring.Result) time.Duration {
	if equality.Semantic.DeepEqual(prev, res.Status) {
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	if len(res.Delete) == 0 && ring.Deferrable(prev, res.Status) {
		if wait := w.last[key].Add(statusCoalesceWindow).Sub(now); wait > 0 {
			return wait
		}
	}
	if w.last == nil {
		w.last = map[types.NamespacedName]time.Time{}
	}
	w.last[key] = now
	return 0
}

// forget drops what is remembered of a StableRing that is gone.
func (w *statusWrites) forget(key types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.last, key)
}

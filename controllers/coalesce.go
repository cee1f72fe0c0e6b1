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

// sliceWriteExpiry is how long a MemberSlice write is expected in the cache. The cache sees a
// write within milliseconds; a slice that never shows up (deleted by someone else before the
// cache saw it) must not hold its ring back for longer than this.
const sliceWriteExpiry = 10 * time.Second

// statusWrites remembers each StableRing's last successful status write: when (on the real
// clock: coalescing spares the API server, it is not part of the ring's timing), and the
// resourceVersion it replaced; and the last write of each of its MemberSlices. It decides which
// writes wait, and tells a cache that has not yet seen the last writes. The zero value is ready
// to use.
type statusWrites struct {
	mu     sync.Mutex
	last   map[types.NamespacedName]statusWrite
	slices map[types.NamespacedName]map[string]sliceWrite
}

// sliceWrite is the last write of a MemberSlice: the resourceVersion it replaced, "" for a
// creation, and when.
type sliceWrite struct {
	replaced string
	at       time.Time
}

type statusWrite struct {
	at time.Time
	// replaced is the resourceVersion the write replaced: a cache that still shows it has not
	// seen the write yet.
	replaced string
}

// hold returns how long the write of res over prev, with members prevMembers, must wait, or 0 to
// write now. A write that records a pod to delete never waits: a pod is deleted only once status
// has its UID.
func (w *statusWrites) hold(key types.NamespacedName, prev v1alpha1.StableRingStatus, prevMembers []v1alpha1.Member, res ring.Result) time.Duration {
	if !recorded(prev, res.Delete) || equality.Semantic.DeepEqual(prev, res.Status) || !ring.Deferrable(prev, prevMembers, res.Status, res.Members) {
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

// wroteSlice records a successful write of the StableRing's MemberSlice name that replaced
// resourceVersion replaced ("" for a creation).
func (w *statusWrites) wroteSlice(key types.NamespacedName, name, replaced string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.slices == nil {
		w.slices = map[types.NamespacedName]map[string]sliceWrite{}
	}
	if w.slices[key] == nil {
		w.slices[key] = map[string]sliceWrite{}
	}
	w.slices[key][name] = sliceWrite{replaced: replaced, at: time.Now()}
}

// deletedSlice forgets the writes of a MemberSlice the controller deleted.
func (w *statusWrites) deletedSlice(key types.NamespacedName, name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.slices[key], name)
}

// slicesBehind reports whether the cache's MemberSlices of a StableRing (have, by name) miss one
// of the controller's recent writes: a slice created and not there yet, or one still at the
// resourceVersion a write replaced. Deciding from them would take an older resolution for the
// last one. Writes the cache has seen, and writes older than sliceWriteExpiry, are forgotten.
func (w *statusWrites) slicesBehind(key types.NamespacedName, have map[string]*v1alpha1.MemberSlice) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	behind := false
	for name, write := range w.slices[key] {
		s := have[name]
		switch {
		case time.Since(write.at) > sliceWriteExpiry:
			delete(w.slices[key], name)
		case write.replaced == "" && s == nil, s != nil && s.ResourceVersion == write.replaced:
			behind = true
		default:
			delete(w.slices[key], name) // seen
		}
	}
	return behind
}

// forget drops what is remembered of a StableRing that is gone.
func (w *statusWrites) forget(key types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.last, key)
	delete(w.slices, key)
}

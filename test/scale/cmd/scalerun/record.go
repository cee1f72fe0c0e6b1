package main

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stablering/stablering/api/v1alpha1"
)

// ringWrite is a StableRing status write as a watch showed it.
type ringWrite struct {
	at      time.Time
	ring    string
	version string
	size    int // bytes of the object as JSON, managed fields included
}

// ringView is a ring as its status and MemberSlices assembled, when a watch showed them so.
type ringView struct {
	at      time.Time
	serving map[string]bool // pod names of Serving members
}

// recorder watches a namespace's StableRings, MemberSlices and pods and polls the gateways' ring
// versions.
type recorder struct {
	mu     sync.Mutex
	writes []ringWrite
	// sliceSizes are the sizes of the MemberSlice writes, as ringWrite's.
	sliceSizes []int
	views      []ringView
	rings      map[string]*v1alpha1.StableRing  // by name, as last seen
	slices     map[string]*v1alpha1.MemberSlice // by name, as last seen
	// unready are the pods (by UID) seen not Ready and not Ready since: the pods whose readiness
	// change the recorder can time. A pod already Ready when recording starts has no such change.
	unready  map[string]bool
	podReady []readiness
	seen     map[[3]string]time.Time // by gateway, ring, version: when first seen routing by it
}

// readiness is a pod's change to Ready as a watch showed it.
type readiness struct {
	at  time.Time
	pod string
}

// record starts recording until ctx ends; the returned function waits for it to stop.
func record(ctx context.Context, c client.WithWatch, namespace string, gateways []*proc) (*recorder, error) {
	rec := &recorder{
		unready: map[string]bool{}, seen: map[[3]string]time.Time{},
		rings: map[string]*v1alpha1.StableRing{}, slices: map[string]*v1alpha1.MemberSlice{},
	}
	rings, err := c.Watch(ctx, &v1alpha1.StableRingList{}, client.InNamespace(namespace))
	if err != nil {
		return nil, err
	}
	slices, err := c.Watch(ctx, &v1alpha1.MemberSliceList{}, client.InNamespace(namespace))
	if err != nil {
		rings.Stop()
		return nil, err
	}
	pods, err := c.Watch(ctx, &corev1.PodList{}, client.InNamespace(namespace))
	if err != nil {
		rings.Stop()
		slices.Stop()
		return nil, err
	}
	go rec.consume(ctx, rings, rec.ring)
	go rec.consume(ctx, slices, rec.slice)
	go rec.consume(ctx, pods, rec.pod)
	for _, g := range gateways {
		go rec.poll(ctx, g)
	}
	return rec, nil
}

func (rec *recorder) consume(ctx context.Context, w watch.Interface, f func(watch.Event, time.Time)) {
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.ResultChan():
			if !ok {
				return
			}
			at := time.Now()
			rec.mu.Lock()
			f(e, at)
			rec.mu.Unlock()
		}
	}
}

func (rec *recorder) ring(e watch.Event, at time.Time) {
	sr, ok := e.Object.(*v1alpha1.StableRing)
	if !ok {
		return
	}
	rec.rings[sr.Name] = sr
	if e.Type == watch.Modified {
		body, _ := json.Marshal(sr)
		rec.writes = append(rec.writes, ringWrite{at: at, ring: sr.Namespace + "/" + sr.Name, version: sr.Status.RingVersion, size: len(body)})
	}
	rec.view(sr.Name, at)
}

func (rec *recorder) slice(e watch.Event, at time.Time) {
	s, ok := e.Object.(*v1alpha1.MemberSlice)
	if !ok {
		return
	}
	if e.Type == watch.Deleted {
		delete(rec.slices, s.Name)
		return
	}
	rec.slices[s.Name] = s
	body, _ := json.Marshal(s)
	rec.sliceSizes = append(rec.sliceSizes, len(body))
	rec.view(s.Ring, at)
}

// view records the ring named name as a gateway would route by it, if its status and slices
// assemble.
func (rec *recorder) view(name string, at time.Time) {
	sr := rec.rings[name]
	if sr == nil {
		return
	}
	members, err := sr.AssembleMembers(func(name string) *v1alpha1.MemberSlice { return rec.slices[name] })
	if err != nil {
		return
	}
	v := ringView{at: at, serving: map[string]bool{}}
	for _, m := range members {
		if m.State == v1alpha1.MemberServing {
			v.serving[sr.PodName(m.Ordinal)] = true
		}
	}
	rec.views = append(rec.views, v)
}

func (rec *recorder) pod(e watch.Event, at time.Time) {
	pod, ok := e.Object.(*corev1.Pod)
	if !ok {
		return
	}
	uid := string(pod.UID)
	if e.Type == watch.Deleted || pod.DeletionTimestamp != nil {
		delete(rec.unready, uid)
		return
	}
	ready := slices.ContainsFunc(pod.Status.Conditions, func(c corev1.PodCondition) bool {
		return c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue
	})
	switch {
	case !ready:
		rec.unready[uid] = true
	case rec.unready[uid]:
		delete(rec.unready, uid)
		rec.podReady = append(rec.podReady, readiness{at, pod.Name})
	}
}

// gatewayPoll is how often each gateway's ring versions are read.
const gatewayPoll = 20 * time.Millisecond

func (rec *recorder) poll(ctx context.Context, g *proc) {
	t := time.NewTicker(gatewayPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		text, err := g.scrape(ctx)
		if err != nil {
			continue
		}
		versions, err := ringVersions(text)
		if err != nil {
			continue
		}
		at := time.Now()
		rec.mu.Lock()
		for ring, v := range versions {
			k := [3]string{g.name, ring, v}
			if _, ok := rec.seen[k]; !ok {
				rec.seen[k] = at
			}
		}
		rec.mu.Unlock()
	}
}

// readinessLatencies returns, for every pod seen becoming Ready, the time until the ring's status
// and slices listed its member Serving.
func (rec *recorder) readinessLatencies() []time.Duration {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []time.Duration
	for _, r := range rec.podReady {
		for _, v := range rec.views {
			if !v.at.Before(r.at) && v.serving[r.pod] {
				out = append(out, v.at.Sub(r.at))
				break
			}
		}
	}
	return out
}

// gatewayLatencies returns, for every ring version written, the time until the last of the
// gateways routed by it, and how many versions a gateway never routed by (a newer one replaced
// them first).
func (rec *recorder) gatewayLatencies(gateways []*proc) (lat []time.Duration, skipped int) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, w := range rec.writes {
		var slowest time.Duration
		all := true
		for _, g := range gateways {
			at, ok := rec.seen[[3]string{g.name, w.ring, w.version}]
			if !ok {
				all = false
				break
			}
			slowest = max(slowest, at.Sub(w.at))
		}
		if all {
			lat = append(lat, max(slowest, 0))
		} else {
			skipped++
		}
	}
	return lat, skipped
}

// writeStats counts the writes of StableRings and of MemberSlices, the bytes both carried, and
// the largest object of each kind.
func (rec *recorder) writeStats() (s writeStats) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, w := range rec.writes {
		s.bytes += w.size
		s.largestStatus = max(s.largestStatus, w.size)
	}
	for _, size := range rec.sliceSizes {
		s.bytes += size
		s.largestSlice = max(s.largestSlice, size)
	}
	s.statusWrites, s.sliceWrites = len(rec.writes), len(rec.sliceSizes)
	return s
}

// writeStats are what a rollout wrote.
type writeStats struct {
	statusWrites, sliceWrites   int
	bytes                       int
	largestStatus, largestSlice int
}

// percentile returns the p-th percentile (0-100) of ds by nearest rank; 0 when empty.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p/100*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

package source

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/gateway/resolved"
)

// Informer publishes the StableRings of a Kubernetes API server, with their members, watched
// through shared informers of StableRings and MemberSlices: a first snapshot once both have
// synced, then one after every change of either (changes arriving together are published once).
//
// The controller writes a ring's MemberSlices before its status, and the informer sees the two
// kinds on two watches, so it may see a status before the slices it names, or slices ahead of
// their status. A ring whose slices are not those its status names is published as it was the
// last time they were, so a gateway never routes by a mix of two resolutions, and does not lose
// a ring because one event is late; a ring that never had them is left out until it has.
type Informer struct {
	// Config connects to the API server.
	Config *rest.Config
	// Namespaces limits the watch; empty watches all namespaces.
	Namespaces []string
	// Selector limits the watch to matching StableRings; nil matches all. It does not apply to
	// MemberSlices, which carry no labels of their ring: those of the watched namespaces are
	// cached whatever ring they belong to.
	Selector labels.Selector
	// Log receives errors, and at V(1) the rings whose slices are not those their status names.
	Log logr.Logger
}

// Run watches StableRings and MemberSlices and publishes snapshots until ctx ends.
func (s *Informer) Run(ctx context.Context, publish Publish) error {
	c, err := s.newCache()
	if err != nil {
		return err
	}
	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	handler := toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify() },
		UpdateFunc: func(any, any) { notify() },
		DeleteFunc: func(any) { notify() },
	}
	for _, obj := range []client.Object{&v1alpha1.StableRing{}, &v1alpha1.MemberSlice{}} {
		inf, err := c.GetInformer(ctx, obj)
		if err != nil {
			return fmt.Errorf("informer for %T: %w", obj, err)
		}
		if _, err := inf.AddEventHandler(handler); err != nil {
			return fmt.Errorf("watching %T: %w", obj, err)
		}
	}
	if err := c.IndexField(ctx, &v1alpha1.MemberSlice{}, sliceRingField, func(o client.Object) []string {
		return []string{o.(*v1alpha1.MemberSlice).Ring}
	}); err != nil {
		return fmt.Errorf("indexing MemberSlices by ring: %w", err)
	}
	cacheErr := make(chan error, 1)
	go func() { cacheErr <- c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return errors.Join(ctx.Err(), errorIfAny(cacheErr))
	}
	var last map[types.UID]resolved.Ring
	last = s.publishList(ctx, c, last, publish)
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-cacheErr:
			return err
		case <-changed:
			last = s.publishList(ctx, c, last, publish)
		}
	}
}

func (s *Informer) newCache() (cache.Cache, error) {
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	opts := cache.Options{
		Scheme:   scheme,
		ByObject: map[client.Object]cache.ByObject{&v1alpha1.StableRing{}: {Label: s.Selector}},
	}
	if len(s.Namespaces) > 0 {
		opts.DefaultNamespaces = make(map[string]cache.Config, len(s.Namespaces))
		for _, ns := range s.Namespaces {
			opts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	c, err := cache.New(s.Config, opts)
	if err != nil {
		return nil, fmt.Errorf("StableRing cache: %w", err)
	}
	return c, nil
}

// publishList publishes every StableRing in the cache with its members, and returns what it
// published by UID; last is what it published before (nil for nothing). A ring at the
// resourceVersion it had in last is published as it was (its status names the same slice
// versions, so its members are the same); another is assembled from the cache's MemberSlices,
// and published as it was in last when it does not assemble. A snapshot that would be the one
// before (no ring assembled anew, none gone) is not published: a MemberSlice written ahead of
// its status changes nothing a gateway routes by, and the gateway is spared a table rebuild.
// On an error listing the cache nothing is published and last is returned.
//
// The rings and members share their contents with the cache, which never modifies an object it
// holds but replaces it: a deep copy of every ring on every change cost in proportion to all
// rings' members (3 ms of CPU a change at 100 rings of 1,000 members).
func (s *Informer) publishList(ctx context.Context, c cache.Cache, last map[types.UID]resolved.Ring, publish Publish) map[types.UID]resolved.Ring {
	var list v1alpha1.StableRingList
	if err := c.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		s.Log.Error(err, "listing StableRings from the cache")
		return last
	}
	changed := last == nil
	rings := make([]resolved.Ring, 0, len(list.Items))
	published := make(map[types.UID]resolved.Ring, len(list.Items))
	keep := func(r resolved.Ring) {
		rings = append(rings, r)
		published[r.UID] = r
	}
	for i := range list.Items {
		sr := &list.Items[i]
		prev, ok := last[sr.UID]
		if ok && prev.ResourceVersion == sr.ResourceVersion {
			keep(prev)
			continue
		}
		slices, err := ringSlices(ctx, c, sr)
		if err != nil {
			s.Log.Error(err, "listing MemberSlices from the cache", "ring", sr.Namespace+"/"+sr.Name)
			return last
		}
		members, err := resolved.Members(sr, slices)
		if err != nil {
			s.Log.V(1).Info("the StableRing's MemberSlices are not those its status names; publishing it as it last assembled, if it did",
				"ring", sr.Namespace+"/"+sr.Name, "reason", err.Error(), "assembled", ok)
			if ok {
				keep(prev)
			}
			continue
		}
		keep(resolved.Ring{StableRing: sr, Members: members})
		changed = true
	}
	if !changed && len(published) == len(last) {
		return last
	}
	publish(rings)
	return published
}

// ringSlices returns the MemberSlices of sr in the cache, sharing their contents with it. They
// are found through an index of the slices by ring: a listing of every slice in the cache on
// every change was most of the garbage a gateway made while a hundred rings of 1,000 members
// loaded (docs/scale.md).
func ringSlices(ctx context.Context, c cache.Cache, sr *v1alpha1.StableRing) ([]v1alpha1.MemberSlice, error) {
	var list v1alpha1.MemberSliceList
	if err := c.List(ctx, &list, client.InNamespace(sr.Namespace), client.MatchingFields{sliceRingField: sr.Name},
		client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// sliceRingField indexes MemberSlices by the StableRing they belong to.
const sliceRingField = "ring"

// errorIfAny returns the error in errc if there is one already.
func errorIfAny(errc <-chan error) error {
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

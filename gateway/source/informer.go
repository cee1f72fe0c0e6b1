package source

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
)

// Informer publishes the StableRings of a Kubernetes API server, watched through a shared
// informer: a first snapshot once the informer has synced, then one after every change
// (changes arriving together are published once).
type Informer struct {
	// Config connects to the API server.
	Config *rest.Config
	// Namespaces limits the watch; empty watches all namespaces.
	Namespaces []string
	// Selector limits the watch to matching StableRings; nil matches all.
	Selector labels.Selector
	// Log receives errors.
	Log logr.Logger
}

// Run watches StableRings and publishes snapshots until ctx ends.
func (s *Informer) Run(ctx context.Context, publish Publish) error {
	c, err := s.newCache()
	if err != nil {
		return err
	}
	inf, err := c.GetInformer(ctx, &v1alpha1.StableRing{})
	if err != nil {
		return fmt.Errorf("informer for StableRings: %w", err)
	}
	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify() },
		UpdateFunc: func(any, any) { notify() },
		DeleteFunc: func(any) { notify() },
	}); err != nil {
		return fmt.Errorf("watching StableRings: %w", err)
	}
	cacheErr := make(chan error, 1)
	go func() { cacheErr <- c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return errors.Join(ctx.Err(), errorIfAny(cacheErr))
	}
	s.publishList(ctx, c, publish)
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-cacheErr:
			return err
		case <-changed:
			s.publishList(ctx, c, publish)
		}
	}
}

func (s *Informer) newCache() (cache.Cache, error) {
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	opts := cache.Options{Scheme: scheme, DefaultLabelSelector: s.Selector}
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

// publishList publishes every StableRing in the cache. The items share their members and
// other contents with the cache, which never modifies an object it holds but replaces it: a
// deep copy of every ring on every change cost in proportion to all rings' members (3 ms of CPU
// a change at 100 rings of 1,000 members).
func (s *Informer) publishList(ctx context.Context, c cache.Cache, publish Publish) {
	var list v1alpha1.StableRingList
	if err := c.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		s.Log.Error(err, "listing StableRings from the cache")
		return
	}
	publish(list.Items)
}

// errorIfAny returns the error in errc if there is one already.
func errorIfAny(errc <-chan error) error {
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

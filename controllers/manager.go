package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/stablering/stablering/api/v1alpha1"
)

// LeaderElectionID is the name of the Lease that manager replicas elect their leader with.
const LeaderElectionID = "stablering-manager.ring.stablering.io"

// ManagerOptions configure NewManager.
type ManagerOptions struct {
	// MetricsBindAddress serves Prometheus metrics over plain HTTP; "0" disables them.
	MetricsBindAddress string
	// HealthProbeBindAddress serves /healthz and /readyz; "" or "0" disables them.
	HealthProbeBindAddress string
	// LeaderElection makes replicas elect one active manager through a Lease.
	LeaderElection bool
	// LeaderElectionNamespace holds the Lease; "" means the manager's own namespace in a cluster.
	LeaderElectionNamespace string
	// Namespaces limits the manager to StableRings, StatefulSets and pods of these namespaces;
	// empty means all namespaces.
	Namespaces []string
	// SkipNameValidation allows more than one manager in a process, one after the other (tests).
	SkipNameValidation bool
	// Clock is the controller's clock (see StableRingReconciler.Clock); nil is the real clock.
	Clock clock.PassiveClock
}

// Scheme returns a scheme with the built-in Kubernetes types and the StableRing API.
func Scheme() (*runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	return scheme, nil
}

// NewManager returns a manager running the StableRing controller, with health and readiness
// checks, not yet started.
func NewManager(ctx context.Context, cfg *rest.Config, opts ManagerOptions) (ctrl.Manager, error) {
	scheme, err := Scheme()
	if err != nil {
		return nil, err
	}
	cacheOpts := cache.Options{DefaultTransform: cache.TransformStripManagedFields(), ByObject: cacheByObject()}
	if len(opts.Namespaces) > 0 {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range opts.Namespaces {
			cacheOpts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Cache:                         cacheOpts,
		Metrics:                       metricsserver.Options{BindAddress: opts.MetricsBindAddress},
		HealthProbeBindAddress:        opts.HealthProbeBindAddress,
		LeaderElection:                opts.LeaderElection,
		LeaderElectionID:              LeaderElectionID,
		LeaderElectionNamespace:       opts.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		Controller:                    config.Controller{SkipNameValidation: ptr.To(opts.SkipNameValidation)},
	})
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	r := &StableRingReconciler{Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder(ControllerName), Clock: opts.Clock}
	if err := r.SetupWithManager(ctx, mgr); err != nil {
		return nil, fmt.Errorf("setting up the StableRing controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("caches", cachesSynced(mgr)); err != nil {
		return nil, err
	}
	return mgr, nil
}

// cachesSynced is a readiness check that passes once the manager's informers have synced.
func cachesSynced(mgr ctrl.Manager) healthz.Checker {
	return func(req *http.Request) error {
		if !mgr.GetCache().WaitForCacheSync(req.Context()) {
			return errors.New("informer caches have not synced yet")
		}
		return nil
	}
}

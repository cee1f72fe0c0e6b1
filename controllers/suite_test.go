package controllers_test

import (
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/stablering/stablering/controllers"
	"github.com/stablering/stablering/test/controlplane"
	"github.com/stablering/stablering/test/nodesim"
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Controllers Suite")
}

// The simulated pods take readyDelay to become Ready and at most maxGrace to stop.
const (
	readyDelay = time.Second
	maxGrace   = time.Second
)

var (
	cp *controlplane.ControlPlane
	// k8s is an administrator's client straight to the API server.
	k8s client.WithWatch
	// sim plays the node; runtime decides which simulated pods are ready.
	sim     *nodesim.Simulator
	runtime = &testRuntime{}
	// deletes counts the pod deletions the managers started by startManager made, and can hold
	// them.
	deletes = &deleteCounter{}
)

var _ = BeforeSuite(func(ctx SpecContext) {
	logf.SetLogger(GinkgoLogr)
	if reason := controlplane.SkipReason(); reason != "" {
		Skip(reason)
	}
	var err error
	cp, err = controlplane.Start(ctx, controlplane.Options{CRDPaths: []string{filepath.Join("..", "config", "crd", "bases")}})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(cp.Stop)
	scheme, err := controllers.Scheme()
	Expect(err).NotTo(HaveOccurred())
	k8s, err = client.NewWithWatch(cp.Config, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	sim, err = nodesim.New(cp.Config, nodesim.Options{
		ReadyDelay:  readyDelay,
		MaxGrace:    maxGrace,
		ProbePeriod: 200 * time.Millisecond,
		Runtime:     runtime,
		Log:         GinkgoLogr.WithName("nodesim").V(1),
	})
	Expect(err).NotTo(HaveOccurred())
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sim.Run(runCtx) }()
	DeferCleanup(func() {
		stop()
		Expect(<-done).To(Succeed())
	})
}, NodeTimeout(3*time.Minute))

// startManager runs the StableRing manager on cfg, limited to namespaces (all if none), until the
// returned function stops it. Its pod deletions are counted in deletes.
func startManager(cfg *rest.Config, namespaces ...string) (stop func()) {
	GinkgoHelper()
	return startManagerOn(nil, cfg, namespaces...)
}

// startManagerOn is startManager with the controller on clk (nil: the real clock).
func startManagerOn(clk clock.PassiveClock, cfg *rest.Config, namespaces ...string) (stop func()) {
	GinkgoHelper()
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(deletes.wrap)
	ctx, cancel := context.WithCancel(context.Background())
	ctx = logf.IntoContext(ctx, GinkgoLogr)
	mgr, err := controllers.NewManager(ctx, cfg, controllers.ManagerOptions{
		MetricsBindAddress:     "0",
		HealthProbeBindAddress: "0",
		Namespaces:             namespaces,
		SkipNameValidation:     true,
		Clock:                  clk,
	})
	Expect(err).NotTo(HaveOccurred())
	done := make(chan error, 1)
	go func() {
		defer GinkgoRecover()
		done <- mgr.Start(ctx)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			Expect(<-done).To(Succeed())
		})
	}
	DeferCleanup(stop)
	return stop
}

// testRuntime is a nodesim runtime whose pods are ready unless their containers have the
// environment variable BROKEN, or the test marked them never ready.
type testRuntime struct {
	nodesim.IdleRuntime
	mu         sync.Mutex
	neverReady map[string]bool // by namespace/name
}

// Ready reports whether the pod may be ready.
func (r *testRuntime) Ready(_ context.Context, pod *corev1.Pod, _ string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.neverReady[pod.Namespace+"/"+pod.Name] {
		return false
	}
	return !slices.ContainsFunc(pod.Spec.Containers, func(c corev1.Container) bool {
		return slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "BROKEN" })
	})
}

// setNeverReady keeps the pods named namespace/name from becoming ready, or lets them again.
func (r *testRuntime) setNeverReady(key string, never bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.neverReady == nil {
		r.neverReady = map[string]bool{}
	}
	r.neverReady[key] = never
}

// deleteCounter counts the answers to pod DELETE requests by namespace/name and status code, and
// holds the requests for the pods a spec names until it lets them go.
type deleteCounter struct {
	mu    sync.Mutex
	count map[string]map[int]int
	held  map[string]chan struct{}
}

func (d *deleteCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		// /api/v1/namespaces/<ns>/pods/<name>
		parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
		if req.Method != http.MethodDelete || len(parts) != 6 || parts[0] != "api" || parts[4] != "pods" {
			return rt.RoundTrip(req)
		}
		key := parts[3] + "/" + parts[5]
		if gate := d.gate(key); gate != nil {
			select {
			case <-gate:
			case <-req.Context().Done():
				return nil, req.Context().Err()
			}
		}
		resp, err := rt.RoundTrip(req)
		if err == nil {
			d.mu.Lock()
			if d.count == nil {
				d.count = map[string]map[int]int{}
			}
			if d.count[key] == nil {
				d.count[key] = map[int]int{}
			}
			d.count[key][resp.StatusCode]++
			d.mu.Unlock()
		}
		return resp, err
	})
}

// in returns the successful deletions counted in namespace, by pod name.
func (d *deleteCounter) in(namespace string) map[string]int {
	return d.answered(namespace, http.StatusOK)
}

// answered returns the DELETE requests counted in namespace that the API server answered with
// code, by pod name.
func (d *deleteCounter) answered(namespace string, code int) map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]int{}
	for key, codes := range d.count {
		if ns, name, _ := strings.Cut(key, "/"); ns == namespace && codes[code] > 0 {
			out[name] = codes[code]
		}
	}
	return out
}

// hold keeps DELETE requests for pod namespace/name from reaching the API server until the
// returned function lets them (and any later ones) go; the spec's cleanup lets them go too.
func (d *deleteCounter) hold(namespace, name string) (release func()) {
	GinkgoHelper()
	key := namespace + "/" + name
	gate := make(chan struct{})
	d.mu.Lock()
	if d.held == nil {
		d.held = map[string]chan struct{}{}
	}
	d.held[key] = gate
	d.mu.Unlock()
	var once sync.Once
	release = func() {
		once.Do(func() {
			d.mu.Lock()
			delete(d.held, key)
			d.mu.Unlock()
			close(gate)
		})
	}
	DeferCleanup(release)
	return release
}

// gate returns the channel that held DELETE requests for key wait on, or nil.
func (d *deleteCounter) gate(key string) chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.held[key]
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

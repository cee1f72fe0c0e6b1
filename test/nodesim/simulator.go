// Package nodesim simulates a Kubernetes node for a control plane without scheduler or kubelet
// (see package controlplane). It registers a Ready Node, binds every unscheduled pod to it, gives
// each pod a loopback IP of its own, reports the pod Running and Ready, and honours graceful
// deletion: the pod turns not ready at once and is removed after its grace period (capped).
// A Runtime decides what running a pod means: the default IdleRuntime runs nothing, and
// ProcessRuntime runs the containers of known images as local processes bound to their pod's IP.
// The node serves its Runtime's container logs (see LogSource) as a kubelet does, so that
// `kubectl logs` works; exec, attach and port-forward do not.
package nodesim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// workers is the number of pods the simulator syncs in parallel.
const workers = 4

// Options configure a Simulator. The zero value is usable.
type Options struct {
	// NodeName names the simulated Node; default "nodesim".
	NodeName string
	// PodCIDR is the IPv4 loopback prefix pod IPs come from. The default is the first of
	// 127.1.0.0/16, 127.2.0.0/16, ... that no other simulator of this machine holds (a lock file
	// in the temporary directory says which), so that simulators of separate processes, e.g.
	// tests run in parallel and `make localcluster`, never share an IP. Simulators sharing a
	// control plane need distinct node names (and prefixes, if set).
	PodCIDR string
	// ReadyDelay is how long a started pod stays not ready.
	ReadyDelay time.Duration
	// MaxGrace caps the termination grace period of a deleted pod; 0 removes it at once.
	MaxGrace time.Duration
	// ProbePeriod is how often the Runtime is asked whether a pod is ready; default 1s.
	ProbePeriod time.Duration
	// Runtime runs the pods; default IdleRuntime.
	Runtime Runtime
	// Log receives the simulator's log; the zero value discards it.
	Log logr.Logger
}

// Simulator plays the kubelet of one Node. Create it with New and start it with Run.
type Simulator struct {
	opts    Options
	client  kubernetes.Interface
	pods    corelisters.PodLister
	factory informers.SharedInformerFactory
	queue   workqueue.TypedRateLimitingInterface[string]
	stops   sync.WaitGroup // graceful stops in progress

	cidrLock *os.File // holds the automatically chosen PodCIDR, if any

	mu     sync.Mutex
	ips    *IPAllocator
	states map[string]*podState // by namespace/name
}

// New returns a simulator that talks to the API server of cfg.
func New(cfg *rest.Config, opts Options) (*Simulator, error) {
	opts = withDefaults(opts)
	var cidrLock *os.File
	if opts.PodCIDR == "" {
		var err error
		if opts.PodCIDR, cidrLock, err = claimPodCIDR(); err != nil {
			return nil, err
		}
	}
	ips, err := NewIPAllocator(opts.PodCIDR)
	if err != nil {
		return nil, errors.Join(err, closeFile(cidrLock))
	}
	ips.Reserve("node", HostIP) // in case the prefix contains it
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, errors.Join(err, closeFile(cidrLock))
	}
	s := &Simulator{
		cidrLock: cidrLock,
		opts:     opts,
		client:   client,
		factory:  informers.NewSharedInformerFactory(client, 0),
		queue:    workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
		ips:      ips,
		states:   map[string]*podState{},
	}
	informer := s.factory.Core().V1().Pods()
	s.pods = informer.Lister()
	if _, err := informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    s.enqueue,
		UpdateFunc: func(_, obj any) { s.enqueue(obj) },
		DeleteFunc: s.enqueue,
	}); err != nil {
		return nil, err
	}
	return s, nil
}

func withDefaults(opts Options) Options {
	if opts.NodeName == "" {
		opts.NodeName = "nodesim"
	}
	if opts.ProbePeriod <= 0 {
		opts.ProbePeriod = time.Second
	}
	if opts.Runtime == nil {
		opts.Runtime = IdleRuntime{}
	}
	return opts
}

// NodeName is the name of the simulated Node.
func (s *Simulator) NodeName() string {
	return s.opts.NodeName
}

// PodCIDR is the prefix the simulator's pod IPs come from.
func (s *Simulator) PodCIDR() string {
	return s.opts.PodCIDR
}

// Run registers the Node and simulates it until ctx ends; then it stops the pods' containers
// (with no grace), releases an automatically chosen PodCIDR and returns. Call it once.
func (s *Simulator) Run(ctx context.Context) error {
	defer func() { _ = closeFile(s.cidrLock) }()
	defer s.stopAll()
	defer s.queue.ShutDown()
	logs, _ := s.opts.Runtime.(LogSource)
	kubelet, err := startKubeletServer(logs, s.runs)
	if err != nil {
		return fmt.Errorf("serving the kubelet API of node %s: %w", s.opts.NodeName, err)
	}
	defer func() { _ = kubelet.stop() }()
	if err := s.registerNode(ctx, kubelet.port()); err != nil {
		return fmt.Errorf("registering node %s: %w", s.opts.NodeName, err)
	}
	s.factory.Start(ctx.Done())
	defer s.factory.Shutdown()
	s.factory.WaitForCacheSync(ctx.Done())
	s.opts.Log.Info("node running", "node", s.opts.NodeName, "podCIDR", s.opts.PodCIDR)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for s.processNext(ctx) {
			}
		})
	}
	<-ctx.Done()
	s.queue.ShutDown()
	wg.Wait()
	s.stops.Wait()
	return nil
}

// SetReady overrides the readiness of a running pod, e.g. false to simulate a hung or crashed
// server, and true to hand readiness back to the Runtime. The override ends with the pod: a pod
// recreated under the same name starts ready.
func (s *Simulator) SetReady(namespace, name string, ready bool) error {
	pod, err := s.pods.Pods(namespace).Get(name)
	if err != nil {
		return err
	}
	key := podKey(pod)
	s.mu.Lock()
	st := s.states[key]
	found := st != nil && st.uid == pod.UID
	if found {
		st.notReady = !ready
	}
	s.mu.Unlock()
	if !found {
		return fmt.Errorf("pod %s does not run on node %s", key, s.opts.NodeName)
	}
	s.queue.Add(key)
	return nil
}

func (s *Simulator) enqueue(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		s.queue.Add(key)
	}
}

// processNext syncs the next queued pod; it returns false once the queue is shut down.
func (s *Simulator) processNext(ctx context.Context) bool {
	key, quit := s.queue.Get()
	if quit {
		return false
	}
	defer s.queue.Done(key)
	recheck, err := s.sync(ctx, key)
	if err != nil {
		if ctx.Err() == nil {
			s.opts.Log.Error(err, "syncing pod", "pod", key)
		}
		s.queue.AddRateLimited(key)
		return true
	}
	s.queue.Forget(key)
	if recheck > 0 {
		s.queue.AddAfter(key, recheck)
	}
	return true
}

// runs returns a function that reports whether the pod namespace/name, the instance on the
// node now, still has containers (it may be stopping); false at once if none runs.
func (s *Simulator) runs(namespace, name string) func() bool {
	key := namespace + "/" + name
	s.mu.Lock()
	st := s.states[key]
	s.mu.Unlock()
	return func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return st != nil && s.states[key] == st && (st.phase == running || st.phase == stopping)
	}
}

// closeFile closes f unless it is nil.
func closeFile(f *os.File) error {
	if f == nil {
		return nil
	}
	return f.Close()
}

func podKey(pod *corev1.Pod) string {
	return pod.Namespace + "/" + pod.Name
}

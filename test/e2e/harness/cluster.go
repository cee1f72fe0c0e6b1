// Package harness runs StableRing end to end on one machine, for `make demo` and the e2e suite,
// on one of two nodes (NodeKind):
//
//   - a real node (package realnode): a kubelet with containerd, the project's images pulled by
//     digest from a local registry, the chart installed with helm, and clients that reach the
//     gateways through their Service's ClusterIP (kube-proxy);
//   - a simulated node, where there is no root or no container runtime: a local control plane
//     (package controlplane) whose pods of the project's images run as real processes on their
//     own loopback IPs (package nodesim), with the real RBAC of config/rbac and config/gateway
//     and the manager and gateway Deployments of config/manager and config/gateway (adapted to
//     bind their pod IPs). There are no network namespaces, Services, DNS or kube-proxy: clients
//     dial the gateway pods' IPs.
//
// On both, the chat example runs as a StatefulSet behind a StableRing. The harness also records
// what happens (pods down at once, rollout batches, deleted pods, member states) and drives
// load generators.
package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stablering/stablering/controllers"
	"github.com/stablering/stablering/test/controlplane"
	"github.com/stablering/stablering/test/images"
	"github.com/stablering/stablering/test/nodesim"
	"github.com/stablering/stablering/test/realnode"
)

// Names of what the harness installs.
const (
	SystemNamespace = "stablering-system"
	// ReleaseName is the helm release of the chart on the real node.
	ReleaseName  = "stablering"
	ManagerName  = "stablering-manager"
	GatewayName  = "stablering-gateway"
	ChatImage    = "stablering/chat:dev"
	ChatPort     = 8080
	GatewayPort  = 8080
	GatewayAdmin = 9090
	// RolloutEnv is the chat container's environment variable TriggerRollout changes.
	RolloutEnv = "ROLLOUT"
)

// Options configure Start.
type Options struct {
	// Node runs the pods; "" is DefaultNode's choice.
	Node NodeKind
	// ModuleRoot is the repository; "" finds it with `go list -m`.
	ModuleRoot string
	// LogDir receives the processes' output; "" is a new temporary directory that Stop removes
	// unless KeepLogs is set.
	LogDir   string
	KeepLogs bool
	// GatewayReplicas is the gateway Deployment's size; default 2.
	GatewayReplicas int32
	// GatewayArgs are added to the gateway's arguments, after the harness's own.
	GatewayArgs []string
	// NoCRD leaves installing the StableRing CRD to the test (as `helm install` does from
	// the chart's crds/ directory).
	NoCRD bool
	// Log receives the harness's, the simulator's and the runtime's log lines.
	Log logr.Logger
	// Progress, if set, is called with a line for each step of Start and Install.
	Progress func(string)
}

// Cluster is a running control plane with a real or a simulated node.
type Cluster struct {
	Root string
	// Node is the kind of node that runs the pods.
	Node NodeKind
	// Real is the real node; nil on the simulated one.
	Real *realnode.Cluster
	// CP, Sim and Runtime are the simulated node's control plane, simulator and processes;
	// nil on the real node.
	CP      *controlplane.ControlPlane
	Sim     *nodesim.Simulator
	Runtime *nodesim.ProcessRuntime
	Client  client.WithWatch
	Kube    kubernetes.Interface
	// Kubeconfig is an administrator's kubeconfig; BinDir holds kubectl.
	Kubeconfig string
	BinDir     string
	// Executables are the image stand-ins by image on the simulated node; ExeDir holds them.
	Executables map[string]string
	ExeDir      string
	LogDir      string

	chatImage string // the chat pods' image

	opts     Options
	cleanups []func() error
	stopSim  context.CancelFunc
	simDone  chan error
	// bg ends when Stop begins: the watches of recorders and baselines end with it, before
	// the API server stops.
	bg       context.Context
	cancelBg context.CancelFunc
}

// scoped returns a context that ends with ctx or when the cluster stops.
func (c *Cluster) scoped(ctx context.Context) context.Context {
	ctx, cancel := context.WithCancel(ctx)
	context.AfterFunc(c.bg, cancel)
	return ctx
}

func (c *Cluster) progress(format string, args ...any) {
	if c.opts.Progress != nil {
		c.opts.Progress(fmt.Sprintf(format, args...))
	}
	c.opts.Log.Info(fmt.Sprintf(format, args...))
}

// Start builds the project's images, starts the control plane with the StableRing CRD (unless
// NoCRD) and the node. Stop undoes everything, also after an error of Start.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	if opts.GatewayReplicas == 0 {
		opts.GatewayReplicas = 2
	}
	if opts.Node == "" {
		kind, reason, err := DefaultNode()
		if err != nil {
			return nil, err
		}
		opts.Node = kind
		opts.Log.Info("node chosen", "node", kind, "why", reason)
	}
	c = &Cluster{opts: opts, Root: opts.ModuleRoot, Node: opts.Node}
	c.bg, c.cancelBg = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Stop())
			c = nil
		}
	}()
	if c.Root == "" {
		if c.Root, err = images.ModuleRoot(ctx); err != nil {
			return c, err
		}
	}
	c.LogDir = opts.LogDir
	if c.LogDir == "" {
		if c.LogDir, err = os.MkdirTemp("", "stablering-e2e-logs-"); err != nil {
			return c, err
		}
		if !opts.KeepLogs {
			dir := c.LogDir
			c.cleanups = append(c.cleanups, func() error { return os.RemoveAll(dir) })
		}
	}
	switch opts.Node {
	case NodeReal:
		return c, c.startReal(ctx)
	case NodeSimulated:
		return c, c.startSimulated(ctx)
	default:
		return c, fmt.Errorf("unknown node kind %q", opts.Node)
	}
}

// startSimulated builds the image stand-ins, starts the control plane and runs the simulated
// node.
func (c *Cluster) startSimulated(ctx context.Context) (err error) {
	opts := c.opts
	if c.ExeDir, err = os.MkdirTemp("", "stablering-e2e-images-"); err != nil {
		return err
	}
	c.cleanups = append(c.cleanups, func() error { return os.RemoveAll(c.ExeDir) })

	c.progress("building the images %s", strings.Join(slices.Sorted(maps.Keys(images.Project)), ", "))
	if c.Executables, err = images.Build(ctx, c.Root, c.ExeDir, images.Project); err != nil {
		return err
	}

	c.progress("starting the control plane (etcd, kube-apiserver, kube-controller-manager)")
	var crds []string
	if !opts.NoCRD {
		crds = []string{filepath.Join(c.Root, "config", "crd", "bases")}
	}
	c.CP, err = controlplane.Start(ctx, controlplane.Options{CRDPaths: crds})
	if err != nil {
		return err
	}
	cp := c.CP
	c.Kubeconfig, c.BinDir, c.chatImage = cp.KubeconfigPath, cp.BinDir, ChatImage
	c.cleanups = append(c.cleanups, cp.Stop)

	scheme, err := controllers.Scheme()
	if err != nil {
		return err
	}
	if c.Client, err = client.NewWithWatch(cp.Config, client.Options{Scheme: scheme}); err != nil {
		return err
	}
	if c.Kube, err = kubernetes.NewForConfig(cp.Config); err != nil {
		return err
	}
	c.Runtime, err = nodesim.NewProcessRuntime(nodesim.ProcessOptions{
		Images:                   c.Executables,
		LogDir:                   c.LogDir,
		ServiceAccountKubeconfig: cp.ImpersonatingKubeconfig,
		Client:                   c.Kube,
		Log:                      opts.Log.WithName("processes"),
	})
	if err != nil {
		return err
	}
	c.Sim, err = nodesim.New(cp.Config, nodesim.Options{
		MaxGrace:    30 * time.Second,
		ProbePeriod: 500 * time.Millisecond,
		Runtime:     c.Runtime,
		Log:         opts.Log.WithName("nodesim"),
	})
	if err != nil {
		return err
	}
	simCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	c.stopSim, c.simDone = stop, make(chan error, 1)
	go func() { c.simDone <- c.Sim.Run(simCtx) }()
	return nil
}

// Stop stops every pod, the node and the control plane, and removes the temporary files. It is
// safe to call more than once.
func (c *Cluster) Stop() error {
	var errs []error
	c.cancelBg()
	if c.stopSim != nil {
		c.stopSim()
		errs = append(errs, <-c.simDone)
		c.stopSim = nil
	}
	for i := len(c.cleanups) - 1; i >= 0; i-- {
		errs = append(errs, c.cleanups[i]())
	}
	c.cleanups = nil
	if c.ExeDir != "" {
		if pids := ProcessesUnder(c.ExeDir); len(pids) > 0 {
			errs = append(errs, fmt.Errorf("processes of the project's images outlived the cluster: %v", pids))
		}
	}
	return errors.Join(errs...)
}

// Leftovers lists what the cluster left on the machine after Stop: processes of the project's
// images on the simulated node; on the real node, anything of the run (see realnode).
func (c *Cluster) Leftovers(ctx context.Context) []string {
	if c.Real != nil {
		return c.Real.Leftovers(ctx)
	}
	var out []string
	if c.ExeDir != "" {
		for _, pid := range ProcessesUnder(c.ExeDir) {
			out = append(out, fmt.Sprintf("process %d of the project's images", pid))
		}
	}
	return out
}

// Install runs the manager (1 replica, leader election on) and the gateway
// (Options.GatewayReplicas) and waits until they are Ready: on the real node, the chart
// installed with helm; on the simulated node, the real RBAC (config/rbac,
// config/gateway/rbac.yaml) and the Deployments of config/manager and config/gateway, adapted to
// bind their pod IPs.
func (c *Cluster) Install(ctx context.Context) error {
	if c.Node == NodeReal {
		return c.installReal(ctx)
	}
	c.progress("installing RBAC, the manager and %d gateway replicas", c.opts.GatewayReplicas)
	var objs []*unstructured.Unstructured
	for _, f := range []string{
		"config/manager/manager.yaml", // the Namespace first, then the Deployment
		"config/rbac/service_account.yaml",
		"config/rbac/role.yaml",
		"config/rbac/role_binding.yaml",
		"config/rbac/leader_election_role.yaml",
		"config/rbac/leader_election_role_binding.yaml",
		"config/gateway/rbac.yaml",
		"config/gateway/gateway.yaml",
	} {
		docs, err := readObjects(filepath.Join(c.Root, f))
		if err != nil {
			return err
		}
		objs = append(objs, docs...)
	}
	for _, u := range objs {
		var obj client.Object = u
		switch {
		case u.GetKind() == "Service":
			continue // no kube-proxy: clients dial the gateway pods
		case u.GetKind() == "Deployment":
			d := &appsv1.Deployment{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, d); err != nil {
				return err
			}
			if err := c.adaptDeployment(d); err != nil {
				return err
			}
			obj = d
		}
		if err := c.Client.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating %s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
	if err := c.WaitDeploymentReady(ctx, ManagerName); err != nil {
		return err
	}
	return c.WaitDeploymentReady(ctx, GatewayName)
}

// adaptDeployment makes a Deployment of config/ run on the simulated node: every address binds
// the pod IP, the manager elects its leader in its own namespace, and the gateway's shutdown
// and reunion windows are short.
func (c *Cluster) adaptDeployment(d *appsv1.Deployment) error {
	ctr := &d.Spec.Template.Spec.Containers[0]
	for name, field := range map[string]string{"POD_IP": "status.podIP", "POD_NAMESPACE": "metadata.namespace", "POD_NAME": "metadata.name"} {
		ctr.Env = slices.DeleteFunc(ctr.Env, func(e corev1.EnvVar) bool { return e.Name == name })
		ctr.Env = append(ctr.Env, corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: field}}})
	}
	for _, p := range []*corev1.Probe{ctr.ReadinessProbe, ctr.LivenessProbe} {
		if p != nil {
			p.InitialDelaySeconds, p.PeriodSeconds, p.TimeoutSeconds, p.FailureThreshold = 0, 1, 3, 3
		}
	}
	switch d.Name {
	case ManagerName:
		d.Spec.Replicas = ptrTo(int32(1))
		ctr.Args = []string{
			"--leader-elect",
			"--leader-election-namespace=$(POD_NAMESPACE)",
			"--metrics-bind-address=$(POD_IP):8080",
			"--health-probe-bind-address=$(POD_IP):8081",
		}
	case GatewayName:
		d.Spec.Replicas = ptrTo(c.opts.GatewayReplicas)
		ctr.Args = append([]string{
			fmt.Sprintf("--listen=$(POD_IP):%d", GatewayPort),
			fmt.Sprintf("--admin=$(POD_IP):%d", GatewayAdmin),
			"--shutdown-delay=1s",
			"--shutdown-window=2s",
			"--reunion-window=2s",
		}, c.opts.GatewayArgs...)
		d.Spec.Template.Spec.TerminationGracePeriodSeconds = ptrTo(int64(10))
	default:
		return fmt.Errorf("unexpected Deployment %s", d.Name)
	}
	return nil
}

// readObjects reads the objects of a multi-document YAML file.
func readObjects(path string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
}

// WaitDeploymentReady waits until as many pods of the Deployment in SystemNamespace are Ready
// (and not terminating) as it has replicas.
func (c *Cluster) WaitDeploymentReady(ctx context.Context, name string) error {
	return poll(ctx, 3*time.Minute, func() (bool, error) {
		d := &appsv1.Deployment{}
		if err := c.Client.Get(ctx, client.ObjectKey{Namespace: SystemNamespace, Name: name}, d); err != nil {
			return false, err
		}
		pods, err := c.readyPods(ctx, SystemNamespace, d.Spec.Selector.MatchLabels)
		if err != nil {
			return false, err
		}
		return int32(len(pods)) == ptrDeref(d.Spec.Replicas, 1) && d.Status.UpdatedReplicas == ptrDeref(d.Spec.Replicas, 1), nil
	})
}

// GatewayPods returns the Ready gateway pods, sorted by name.
func (c *Cluster) GatewayPods(ctx context.Context) ([]corev1.Pod, error) {
	return c.readyPods(ctx, SystemNamespace, map[string]string{"app.kubernetes.io/component": "gateway"})
}

// GatewayAddrs returns the addresses clients dial to reach the gateways: on the real node, the
// gateway Service's ClusterIP and port; on the simulated node, the ip:port of the Ready gateway
// pods' proxies, sorted by pod name.
func (c *Cluster) GatewayAddrs(ctx context.Context) ([]string, error) {
	if c.Node == NodeReal {
		addr, err := c.gatewayServiceAddr(ctx)
		return []string{addr}, err
	}
	pods, err := c.GatewayPods(ctx)
	if err != nil {
		return nil, err
	}
	var addrs []string
	for _, p := range pods {
		addrs = append(addrs, fmt.Sprintf("%s:%d", p.Status.PodIP, GatewayPort))
	}
	return addrs, nil
}

// ManagerPod returns the manager's Ready pod.
func (c *Cluster) ManagerPod(ctx context.Context) (*corev1.Pod, error) {
	pods, err := c.readyPods(ctx, SystemNamespace, map[string]string{"app.kubernetes.io/component": "manager"})
	if err != nil {
		return nil, err
	}
	if len(pods) != 1 {
		return nil, fmt.Errorf("%d Ready manager pods, want 1", len(pods))
	}
	return &pods[0], nil
}

// readyPods returns the Ready, not terminating pods of namespace matching sel, sorted by name.
func (c *Cluster) readyPods(ctx context.Context, namespace string, sel map[string]string) ([]corev1.Pod, error) {
	list := &corev1.PodList{}
	if err := c.Client.List(ctx, list, client.InNamespace(namespace), client.MatchingLabels(sel)); err != nil {
		return nil, err
	}
	var pods []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && PodReady(&p) && p.Status.PodIP != "" {
			pods = append(pods, p)
		}
	}
	slices.SortFunc(pods, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return pods, nil
}

// PodReady reports whether pod's Ready condition is True.
func PodReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Ordinal returns the ordinal of a StatefulSet pod, from its name.
func Ordinal(podName string) int32 {
	i := strings.LastIndexByte(podName, '-')
	n, err := strconv.Atoi(podName[i+1:])
	if err != nil {
		return -1
	}
	return int32(n)
}

// ProcessesUnder returns the pids of the processes whose executable lies in dir (Linux /proc).
func ProcessesUnder(dir string) []int {
	return findProcesses(func(_ int, argv []string) bool { return strings.HasPrefix(argv[0], dir+string(filepath.Separator)) })
}

// findProcesses returns the pids of the processes for whose pid and command line match holds.
func findProcesses(match func(pid int, argv []string) bool) []int {
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var pids []int
	for _, cmdline := range cmdlines {
		data, err := os.ReadFile(cmdline)
		if err != nil || len(data) == 0 {
			continue
		}
		argv := strings.Split(strings.TrimSuffix(string(data), "\x00"), "\x00")
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(cmdline)))
		if match(pid, argv) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// KillPodProcess sends sig to the process of the pod's (only) container and returns its pid: on
// the real node, found in the container's cgroup; on the simulated node, the process of one of
// the project's images working in the pod's directory.
func (c *Cluster) KillPodProcess(pod *corev1.Pod, sig syscall.Signal) (int, error) {
	if c.Real != nil {
		pids, err := c.Real.KillContainer(pod, pod.Spec.Containers[0].Name, sig)
		if len(pids) == 0 {
			return 0, err
		}
		return pids[0], err
	}
	podDir := fmt.Sprintf("nodesim-%s_%s-", pod.Namespace, pod.Name) // see nodesim.ProcessRuntime
	pids := findProcesses(func(pid int, argv []string) bool {
		cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		return err == nil && strings.HasPrefix(argv[0], c.ExeDir+string(filepath.Separator)) && strings.HasPrefix(filepath.Base(cwd), podDir)
	})
	if len(pids) != 1 {
		return 0, fmt.Errorf("found %d processes of the project's images for pod %s/%s, want 1", len(pids), pod.Namespace, pod.Name)
	}
	return pids[0], syscall.Kill(pids[0], sig)
}

// SetProbesPassing makes the kubelet's probes of the pod's port fail (passing false) or pass
// again: on the real node by dropping the node's packets to that port, on the simulated node by
// the simulator's readiness switch. The pod's process and its traffic from other pods go on.
func (c *Cluster) SetProbesPassing(ctx context.Context, pod *corev1.Pod, port int, passing bool) error {
	if c.Real != nil {
		return c.Real.BlockProbes(ctx, pod.Status.PodIP, port, !passing)
	}
	return c.Sim.SetReady(pod.Namespace, pod.Name, passing)
}

// poll calls cond every 200ms until it returns true, an error, or timeout or ctx ends.
func poll(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func ptrTo[T any](v T) *T { return &v }

func ptrDeref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// EnsureNamespace creates namespace unless it exists.
func (c *Cluster) EnsureNamespace(ctx context.Context, namespace string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if err := c.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

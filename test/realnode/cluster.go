// Package realnode runs a real single-node Kubernetes cluster on this machine, for the e2e suite,
// `make demo` and people: etcd, kube-apiserver, kube-controller-manager (every controller),
// kube-scheduler, containerd with runc and the CNI bridge plugin, a kubelet and kube-proxy
// (nftables mode), with its own PKI, and a container registry (package registry) holding the
// project's images, built for the host's platform with a pause image of the project's own, which
// containerd pulls by digest. Pods live in network namespaces on a bridge of the run's own, and
// an nftables rule keeps their traffic on the machine.
//
// It needs Linux, root, and Debian's containerd, runc, containernetworking-plugins, nftables and
// iptables packages (Available says what is missing); the Kubernetes binaries come from
// hack/controlplane-binaries.sh. One run at a time holds the machine (a lock in the cache
// directory); Stop undoes everything the run did, and the next Start undoes a run that died
// before its Stop. Leftovers lists what a run left behind.
package realnode

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/stablering/stablering/test/images"
	"github.com/stablering/stablering/test/internal/childproc"
	"github.com/stablering/stablering/test/registry"
)

// startTimeout bounds each component's start.
const startTimeout = 2 * time.Minute

// PauseImage is the pod sandbox image the project builds for the node.
var PauseImage = images.Image{Name: "pause", Package: "./test/realnode/pause", Description: "StableRing real node: the pod sandbox process"}

// Options configure Start.
type Options struct {
	// ModuleRoot is the repository, for building the images.
	ModuleRoot string
	// BinDir holds etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
	// kube-proxy and kubectl.
	BinDir string
	// Registry is the registry server's binary (see registry.Binary).
	Registry string
	// Images are built for the host's platform and pushed to the run's registry, beside the
	// pause image.
	Images []images.Image
	// LogDir receives the components' logs, one file each; "" is logs/ in the run directory,
	// which Stop removes.
	LogDir string
	// Log receives a line for each step.
	Log logr.Logger
}

// Cluster is a running real node and its control plane.
type Cluster struct {
	// Config connects as an administrator (group system:masters).
	Config *rest.Config
	// Kube is a client with Config.
	Kube kubernetes.Interface
	// KubeconfigPath is the administrator's kubeconfig, for kubectl and helm.
	KubeconfigPath string
	// Images are the references by digest of Options.Images, by image name (e.g. "gateway").
	Images map[string]string
	// Dir is the run directory: configuration, PKI, state and logs (logs/).
	Dir string
	// NodeIP is the node's address on the pods' bridge, Bridge the bridge's name and PodSubnet
	// the pods' addresses.
	NodeIP, Bridge, PodSubnet string

	opts     Options
	layout   layout
	net      network
	ports    ports
	snap     snapshot
	lock     *os.File
	registry *registry.Registry
	procs    map[string]*childproc.Process
}

// Start starts the node and its control plane and returns once the node is Ready, kube-proxy
// serves and the default namespace's ServiceAccount exists. On error everything is undone.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	if err := Available(opts.BinDir); err != nil {
		return nil, err
	}
	c = &Cluster{opts: opts, net: defaultNetwork, NodeIP: defaultNetwork.NodeIP.String(), Bridge: defaultNetwork.Bridge, PodSubnet: defaultNetwork.PodSubnet.String(), procs: map[string]*childproc.Process{}}
	if c.lock, err = lockMachine(ctx); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Stop())
		}
	}()
	if err := c.undoDeadRun(ctx); err != nil {
		return c, err
	}
	if c.Dir, err = os.MkdirTemp("", "stablering-realnode-"); err != nil {
		return c, err
	}
	c.layout = layout{dir: c.Dir, logDir: cmp.Or(opts.LogDir, filepath.Join(c.Dir, "logs"))}
	if err := os.MkdirAll(c.layout.logDir, 0o755); err != nil {
		return c, err
	}
	if c.snap, err = takeSnapshot(ctx, c.Dir); err != nil {
		return c, err
	}
	if err := c.snap.save(statePath()); err != nil {
		return c, err
	}
	steps := []struct {
		what string
		do   func(context.Context) error
	}{
		{"network (bridge " + c.net.Bridge + ", " + c.net.PodSubnet.String() + ")", c.setupNetwork},
		{"PKI and configuration", c.writeConfiguration},
		{"registry and images", c.pushImages},
		{"containerd", c.startContainerd},
		{"etcd and kube-apiserver", c.startAPIServer},
		{"kube-controller-manager and kube-scheduler", c.startControllers},
		{"kubelet (node " + NodeName + ")", c.startKubelet},
		{"kube-proxy", c.startKubeProxy},
	}
	for _, s := range steps {
		t0 := time.Now()
		if err := s.do(ctx); err != nil {
			return c, fmt.Errorf("real node: %s: %w", s.what, err)
		}
		c.opts.Log.Info("started", "step", s.what, "took", time.Since(t0).Round(time.Millisecond))
	}
	return c, nil
}

// Stop stops every component and undoes what the run changed on the machine, even after a
// failed Start. It is safe to call more than once.
func (c *Cluster) Stop() error {
	if c.lock == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var errs []error
	stop := func(names ...string) {
		for _, name := range names {
			if p := c.procs[name]; p != nil {
				errs = append(errs, p.Stop())
				delete(c.procs, name)
			}
		}
	}
	// No controller recreates a pod once they stop; the kubelet then tears the pods down (CNI,
	// network namespaces, mounts, cgroups) while it still runs.
	stop("kube-controller-manager", "kube-scheduler")
	if c.procs["kubelet"] != nil && c.Kube != nil {
		errs = append(errs, c.deleteAllPods(ctx))
	}
	stop("kube-proxy", "kubelet", "kube-apiserver", "etcd", "containerd")
	if c.registry != nil {
		errs = append(errs, c.registry.Stop())
		c.registry = nil
	}
	if c.Dir != "" {
		errs = append(errs, c.snap.teardown(ctx))
		errs = append(errs, os.Remove(statePath()))
		c.Dir = ""
	}
	errs = append(errs, c.lock.Close())
	c.lock = nil
	return errors.Join(errs...)
}

// Leftovers lists what the run left on the machine (see snapshot.Leftovers); call it after Stop.
func (c *Cluster) Leftovers(ctx context.Context) []string { return c.snap.Leftovers(ctx) }

// undoDeadRun undoes a run that died before its Stop, as its state file describes.
func (c *Cluster) undoDeadRun(ctx context.Context) error {
	s, found, err := loadSnapshot(statePath())
	if err != nil || !found {
		return err
	}
	c.opts.Log.Info("undoing a run that did not stop", "runDir", s.RunDir)
	if err := s.teardown(ctx); err != nil {
		return fmt.Errorf("undoing the run in %s: %w", s.RunDir, err)
	}
	return os.Remove(statePath())
}

func (c *Cluster) setupNetwork(ctx context.Context) error {
	if _, err := os.Stat("/sys/class/net/" + c.net.Bridge); err == nil {
		return fmt.Errorf("interface %s exists and no run of this package made it: remove it or free the name", c.net.Bridge)
	}
	if err := setupNetwork(ctx, c.net); err != nil {
		return err
	}
	return makeCgroups()
}

// writeConfiguration writes the PKI, the kubeconfigs and every component's configuration.
func (c *Cluster) writeConfiguration(_ context.Context) error {
	l, n := c.layout, c.net
	var err error
	if c.ports, err = freePorts(); err != nil {
		return err
	}
	p, err := newPKI(l.path("pki"))
	if err != nil {
		return err
	}
	ips := []net.IP{net.IP(n.NodeIP.AsSlice()), net.IPv4(127, 0, 0, 1), net.IP(n.apiServiceIP().AsSlice())}
	dns := []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
	if err := p.serving("kube-apiserver", ips, dns); err != nil {
		return err
	}
	for _, u := range []user{adminUser, kubeletUser, controllerManagerUser, schedulerUser, proxyUser, apiServerKubeletUser} {
		if err := p.client(u); err != nil {
			return err
		}
		if err := writeKubeconfig(l, u, l.apiServer(n, c.ports)); err != nil {
			return err
		}
	}
	if err := p.serviceAccountKeys("sa"); err != nil {
		return err
	}
	c.KubeconfigPath = l.kubeconfig(adminUser.file)
	cni, err := cniConfig(n, l.path("cni", "networks"))
	if err != nil {
		return err
	}
	if err := writeFiles(map[string][]byte{
		l.path("cni", "net.d", "10-"+n.Bridge+".conflist"): cni,
		l.path("resolv.conf"):                              []byte("nameserver 127.0.0.1\n"),
		l.log("README"):                                    []byte("one log file per component\n"),
	}); err != nil {
		return err
	}
	if err := writeYAML(l.path("kubelet.yaml"), kubeletConfig(l, n, c.ports)); err != nil {
		return err
	}
	return writeYAML(l.path("kube-proxy.yaml"), kubeProxyConfig(l, n, c.ports))
}

// pushImages starts the registry, builds the images for the host's platform and pushes them.
func (c *Cluster) pushImages(ctx context.Context) error {
	dir := c.layout.path("registry")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var err error
	if c.registry, err = registry.Start(ctx, c.opts.Registry, dir); err != nil {
		return err
	}
	layoutDir := c.layout.path("images")
	platform := []v1.Platform{{OS: "linux", Architecture: runtime.GOARCH}}
	imgs := append([]images.Image{PauseImage}, c.opts.Images...)
	info := images.BuildInfo{Version: "realnode", Revision: "realnode", Repository: "stablering"}
	if _, err := images.BuildOCI(ctx, c.opts.ModuleRoot, layoutDir, imgs, platform, info); err != nil {
		return err
	}
	pushed, err := c.registry.Push(ctx, layoutDir)
	if err != nil {
		return err
	}
	c.Images = map[string]string{}
	for i, p := range pushed {
		c.Images[imageName(p.Ref)] = pushed[i].Digest.String()
	}
	if _, ok := c.Images[PauseImage.Name]; !ok {
		return fmt.Errorf("the pause image is not among the pushed %v", pushed)
	}
	return writeFiles(map[string][]byte{
		c.layout.path("containerd", "certs.d", c.registry.Host, "hosts.toml"): []byte(hostsTOML(c.registry.Host)),
	})
}

func (c *Cluster) start(name, path string, args ...string) (*childproc.Process, error) {
	p, err := childproc.Start(path, args, c.layout.log(name))
	if err != nil {
		return nil, err
	}
	c.procs[name] = p
	return p, nil
}

func (c *Cluster) startContainerd(ctx context.Context) error {
	l := c.layout
	if err := writeTemplate(l.path("containerd", "config.toml"), containerdConfig, map[string]string{
		"Root":       l.path("containerd", "root"),
		"State":      l.path("containerd", "state"),
		"Socket":     l.containerdSocket(),
		"PauseImage": c.Images[PauseImage.Name],
		"CNIBinDir":  cniBinDir,
		"CNIConfDir": l.path("cni", "net.d"),
		"CertsDir":   l.path("containerd", "certs.d"),
	}); err != nil {
		return err
	}
	p, err := c.start("containerd", "containerd", "--config", l.path("containerd", "config.toml"))
	if err != nil {
		return err
	}
	return c.waitFor(ctx, p, "containerd", func() bool {
		conn, err := net.Dial("unix", l.containerdSocket())
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
}

func (c *Cluster) startAPIServer(ctx context.Context) error {
	l, n, pt := c.layout, c.net, c.ports
	local := func(port int32) string { return "http://127.0.0.1:" + strconv.Itoa(int(port)) }
	etcd, err := c.start("etcd", c.bin("etcd"),
		"--name=realnode", "--data-dir="+l.path("etcd"), "--unsafe-no-fsync",
		"--listen-client-urls="+local(pt.etcd), "--advertise-client-urls="+local(pt.etcd),
		"--listen-peer-urls="+local(pt.etcdPeer), "--initial-advertise-peer-urls="+local(pt.etcdPeer),
		"--initial-cluster=realnode="+local(pt.etcdPeer))
	if err != nil {
		return err
	}
	if err := etcd.WaitHealthy(ctx, local(pt.etcd)+"/health", startTimeout); err != nil {
		return c.withLog("etcd", err)
	}
	api, err := c.start("kube-apiserver", c.bin("kube-apiserver"),
		"--etcd-servers="+local(pt.etcd),
		"--bind-address="+n.NodeIP.String(), "--advertise-address="+n.NodeIP.String(),
		"--secure-port="+strconv.Itoa(int(pt.apiServer)),
		"--tls-cert-file="+l.pki("kube-apiserver", ".crt"), "--tls-private-key-file="+l.pki("kube-apiserver", ".key"),
		"--client-ca-file="+l.pki("ca", ".crt"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+l.pki("sa", ".pub"), "--service-account-signing-key-file="+l.pki("sa", ".key"),
		"--service-cluster-ip-range="+n.ServiceSubnet.String(),
		"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
		"--kubelet-client-certificate="+l.pki(apiServerKubeletUser.file, ".crt"),
		"--kubelet-client-key="+l.pki(apiServerKubeletUser.file, ".key"),
		"--kubelet-preferred-address-types=InternalIP,Hostname", // kubectl logs and exec reach the node by its address
		"--profiling=false")
	if err != nil {
		return err
	}
	if err := api.WaitHealthy(ctx, l.apiServer(n, pt)+"/readyz", startTimeout); err != nil {
		return c.withLog("kube-apiserver", err)
	}
	if c.Config, err = clientcmd.BuildConfigFromFlags("", c.KubeconfigPath); err != nil {
		return err
	}
	c.Config.QPS, c.Config.Burst = 100, 200
	c.Kube, err = kubernetes.NewForConfig(c.Config)
	return err
}

func (c *Cluster) startControllers(ctx context.Context) error {
	l, pt := c.layout, c.ports
	kcm := l.kubeconfig(controllerManagerUser.file)
	p, err := c.start("kube-controller-manager", c.bin("kube-controller-manager"),
		"--kubeconfig="+kcm, "--authentication-kubeconfig="+kcm, "--authorization-kubeconfig="+kcm,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(int(pt.controllerManager)), "--leader-elect=false",
		"--controllers=*", "--use-service-account-credentials=true",
		"--service-account-private-key-file="+l.pki("sa", ".key"), "--root-ca-file="+l.pki("ca", ".crt"),
		"--cluster-signing-cert-file="+l.pki("ca", ".crt"), "--cluster-signing-key-file="+l.pki("ca", ".key"),
		"--flex-volume-plugin-dir="+l.path("kcm-flex"), // or it writes under /usr/libexec
		"--kube-api-qps=200", "--kube-api-burst=400")
	if err != nil {
		return err
	}
	if err := p.WaitHealthy(ctx, fmt.Sprintf("https://127.0.0.1:%d/healthz", pt.controllerManager), startTimeout); err != nil {
		return c.withLog("kube-controller-manager", err)
	}
	sched := l.kubeconfig(schedulerUser.file)
	p, err = c.start("kube-scheduler", c.bin("kube-scheduler"),
		"--kubeconfig="+sched, "--authentication-kubeconfig="+sched, "--authorization-kubeconfig="+sched,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(int(pt.scheduler)), "--leader-elect=false")
	if err != nil {
		return err
	}
	if err := p.WaitHealthy(ctx, fmt.Sprintf("https://127.0.0.1:%d/healthz", pt.scheduler), startTimeout); err != nil {
		return c.withLog("kube-scheduler", err)
	}
	return nil
}

func (c *Cluster) startKubelet(ctx context.Context) error {
	l := c.layout
	p, err := c.start("kubelet", c.bin("kubelet"),
		"--config="+l.path("kubelet.yaml"), "--kubeconfig="+l.kubeconfig(kubeletUser.file),
		"--hostname-override="+NodeName, "--node-ip="+c.NodeIP,
		"--root-dir="+l.path("kubelet"), "--cert-dir="+l.path("kubelet", "pki"), "--v=2")
	if err != nil {
		return err
	}
	if err := p.WaitHealthy(ctx, fmt.Sprintf("http://127.0.0.1:%d/healthz", c.ports.kubeletHealthz), startTimeout); err != nil {
		return c.withLog("kubelet", err)
	}
	return c.waitFor(ctx, p, "node "+NodeName+" Ready", func() bool {
		node, err := c.Kube.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue
			}
		}
		return false
	})
}

func (c *Cluster) startKubeProxy(ctx context.Context) error {
	p, err := c.start("kube-proxy", c.bin("kube-proxy"), "--config="+c.layout.path("kube-proxy.yaml"), "--v=2")
	if err != nil {
		return err
	}
	if err := p.WaitHealthy(ctx, fmt.Sprintf("http://127.0.0.1:%d/healthz", c.ports.proxyHealthz), startTimeout); err != nil {
		return c.withLog("kube-proxy", err)
	}
	// The ServiceAccount admission plugin refuses pods until their namespace's default
	// ServiceAccount exists.
	return c.waitFor(ctx, p, "the default ServiceAccount", func() bool {
		_, err := c.Kube.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	})
}

// deleteAllPods deletes every pod with a grace period of 1 s and waits until they are gone.
func (c *Cluster) deleteAllPods(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	pods := c.Kube.CoreV1().Pods(metav1.NamespaceAll)
	for {
		list, err := pods.List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("listing pods to delete: %w", err)
		}
		if len(list.Items) == 0 {
			return nil
		}
		for _, pod := range list.Items {
			err := c.Kube.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(1))})
			if err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d pods still there: %w", len(list.Items), ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// waitFor polls cond every 250 ms until it holds, p exits, ctx ends or startTimeout passes.
func (c *Cluster) waitFor(ctx context.Context, p *childproc.Process, what string, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	for !cond() {
		select {
		case <-p.Done():
			return fmt.Errorf("exited while waiting for %s", what)
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
	return nil
}

// withLog adds the end of a component's log to err.
func (c *Cluster) withLog(name string, err error) error {
	return fmt.Errorf("%s: %w; its log ends:\n%s", name, err, childproc.Tail(c.layout.log(name), 20))
}

func (c *Cluster) bin(name string) string { return filepath.Join(c.opts.BinDir, name) }

// freePorts finds a free port for each component.
func freePorts() (ports, error) {
	var p ports
	for _, port := range []*int32{&p.etcd, &p.etcdPeer, &p.apiServer, &p.controllerManager, &p.scheduler, &p.kubelet, &p.kubeletHealthz, &p.proxyHealthz, &p.proxyMetrics} {
		s, err := childproc.FreePort()
		if err != nil {
			return p, err
		}
		n, _ := strconv.Atoi(s)
		*port = int32(n)
	}
	return p, nil
}

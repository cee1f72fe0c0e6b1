// Command localcluster runs a local Kubernetes cluster for manual testing, until it receives
// SIGINT or SIGTERM.
//
// With --node=real it is a real single-node cluster (package realnode): kubelet, containerd,
// kube-proxy, kube-scheduler and every controller, with the project's images (manager, gateway,
// chat) built for this machine and pushed to a local registry; it needs root and the packages of
// hack/realnode-packages.sh, and leaves nothing behind when it stops.
//
// By default (--node=simulated) it is a control plane (etcd, kube-apiserver and a
// kube-controller-manager with the workload and namespace controllers) and a simulated node. Pods get loopback IPs (127.1.0.0/16, or the
// next free 127.N.0.0/16). Pods of the project's images (stablering/chat, stablering/manager and
// stablering/gateway, and the Helm chart's ghcr.io/stablering/manager and gateway, any tag) run as
// local processes built from this module, with the RBAC permissions of their service accounts and
// their output in --log-dir and in `kubectl logs`; other pods run nothing (see
// nodesim.ProcessRuntime). The banner it prints says what else
// differs from a real cluster; "Try it locally" in docs/user-guide.md walks through it.
//
//	make localcluster           # or: go run ./test/cmd/localcluster
//	source .localcluster/env    # in another terminal: KUBECONFIG, and kubectl on PATH
//
// The control plane binaries come from `make envtest`.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/stablering/stablering/test/controlplane"
	"github.com/stablering/stablering/test/images"
	"github.com/stablering/stablering/test/nodesim"
)

type config struct {
	kubeconfigOut string
	envOut        string
	crdDir        string
	binDir        string
	maxGrace      time.Duration
	readyDelay    time.Duration
	runImages     bool
	logDir        string
	verbosity     int
	node          string
}

func main() {
	if err := run(parseFlags()); err != nil {
		fmt.Fprintln(os.Stderr, "localcluster:", err)
		os.Exit(1)
	}
}

func parseFlags() config {
	var cfg config
	flag.StringVar(&cfg.kubeconfigOut, "kubeconfig-out", filepath.Join(".localcluster", "kubeconfig"), "where to write the administrator kubeconfig (removed on exit)")
	flag.StringVar(&cfg.envOut, "env-out", filepath.Join(".localcluster", "env"), "where to write a shell script that exports KUBECONFIG and puts kubectl on PATH (removed on exit)")
	flag.StringVar(&cfg.crdDir, "crds", filepath.Join("config", "crd", "bases"), "directory of CRDs to install if it exists; empty for none")
	flag.StringVar(&cfg.binDir, "bin-dir", "", "directory of etcd, kube-apiserver, kube-controller-manager and kubectl (default $KUBEBUILDER_ASSETS, else the cache of `make envtest`)")
	flag.DurationVar(&cfg.maxGrace, "max-grace", 30*time.Second, "cap on the termination grace period of deleted pods")
	flag.DurationVar(&cfg.readyDelay, "ready-delay", 0, "how long a started pod stays not ready")
	flag.BoolVar(&cfg.runImages, "run-images", true, "build the project's images and run their pods as local processes")
	flag.StringVar(&cfg.logDir, "log-dir", filepath.Join(".localcluster", "logs"), "where the processes' output goes, one <namespace>_<pod>_<container>.log each")
	flag.IntVar(&cfg.verbosity, "v", 0, "log verbosity")
	flag.StringVar(&cfg.node, "node", "simulated", "simulated, or real: a kubelet with containerd (root, hack/realnode-packages.sh)")
	flag.Parse()
	return cfg
}

func run(cfg config) (err error) {
	log := funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, prefix, args) }, funcr.Options{Verbosity: cfg.verbosity})
	logf.SetLogger(log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if err := checkNotRunning(ctx, cfg.kubeconfigOut); err != nil {
		return err
	}
	switch cfg.node {
	case "real":
		return runReal(ctx, cfg, log)
	case "simulated":
	default:
		return fmt.Errorf("--node=%q: want simulated or real", cfg.node)
	}
	exeDir, err := os.MkdirTemp("", "localcluster-images-")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(exeDir)) }()
	executables := map[string]string{}
	if cfg.runImages {
		executables = buildImages(ctx, log, exeDir)
	}

	cp, err := controlplane.Start(ctx, controlplane.Options{BinDir: cfg.binDir, CRDPaths: crdPaths(log, cfg.crdDir)})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cp.Stop()) }()
	if err := copyFile(cp.KubeconfigPath, cfg.kubeconfigOut); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, os.Remove(cfg.kubeconfigOut)) }()
	if err := writeEnv(cfg.envOut, cfg.kubeconfigOut, cp.BinDir); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, os.Remove(cfg.envOut)) }()

	processes, err := processRuntime(cp, executables, cfg.logDir, log)
	if err != nil {
		return err
	}
	sim, err := nodesim.New(cp.Config, nodesim.Options{
		MaxGrace:   cfg.maxGrace,
		ReadyDelay: cfg.readyDelay,
		Runtime:    processes,
		Log:        log.WithName("nodesim"),
	})
	if err != nil {
		return err
	}
	printUsage(cp, sim, cfg, executables)
	return sim.Run(ctx)
}

// buildImages builds the executables of the project's images into dir and returns them by
// image. Images that fail to build are left out, with a warning: their pods run nothing.
func buildImages(ctx context.Context, log logr.Logger, dir string) map[string]string {
	log.Info("building the project's images", "images", slices.Sorted(maps.Keys(images.Project)))
	root, err := images.ModuleRoot(ctx)
	if err != nil {
		log.Error(err, "not running any image as processes")
		return nil
	}
	built, err := images.Build(ctx, root, dir, images.Project)
	if err != nil {
		fmt.Fprintf(os.Stderr, "localcluster: warning: pods of the images that failed to build run nothing:\n%v\n", err)
	}
	return built
}

// processRuntime runs the pods of the images of executables as processes that act as their
// service accounts.
func processRuntime(cp *controlplane.ControlPlane, executables map[string]string, logDir string, log logr.Logger) (*nodesim.ProcessRuntime, error) {
	client, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		return nil, err
	}
	return nodesim.NewProcessRuntime(nodesim.ProcessOptions{
		Images:                   executables,
		LogDir:                   logDir,
		ServiceAccountKubeconfig: cp.ImpersonatingKubeconfig,
		Client:                   client,
		Log:                      log.WithName("processes"),
	})
}

// crdPaths returns dir if it exists.
func crdPaths(log logr.Logger, dir string) []string {
	if dir == "" {
		return nil
	}
	if _, err := os.Stat(dir); err != nil {
		log.Info("not installing CRDs", "reason", err.Error())
		return nil
	}
	return []string{dir}
}

// copyFile copies the private file from to to, creating to's directory.
func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o600)
}

func printUsage(cp *controlplane.ControlPlane, sim *nodesim.Simulator, cfg config, executables map[string]string) {
	fmt.Printf(`
Local cluster running: kube-apiserver %s, node %q, pod IPs in %s.

  source %s   # exports KUBECONFIG=%s
  %s   # and puts a matching kubectl (in %s) first on PATH
  kubectl get nodes

Images run as processes: %s (any tag); their output: kubectl logs, or %s
kube-controller-manager log: %s

Where it differs from a real cluster:
  - Pods are processes on this machine sharing its network: each pod has a loopback IP of its own,
    and its servers must listen on that IP ($(POD_IP) from the downward API), not on all addresses.
    Install StableRing with: kubectl apply --server-side -k examples/localcluster
    (or helm install ... --set bindPodIP=true).
  - Pods of other images are Running and Ready but run nothing.
  - Services get ClusterIPs but nothing routes them (no kube-proxy), and there is no cluster DNS:
    reach pods at their IPs (kubectl get pods -o wide), from this machine.
  - kubectl logs works; kubectl exec, attach and port-forward do not.
  - Deleted namespaces are emptied and removed; there is no scheduler (the node takes every pod),
    no PersistentVolumes, no service account tokens in pods (processes get a kubeconfig instead).

Press Ctrl-C to stop.

`, cp.Config.Host, sim.NodeName(), sim.PodCIDR(), cfg.envOut, absPath(cfg.kubeconfigOut), strings.Repeat(" ", len("source "+cfg.envOut)), cp.BinDir,
		cmp.Or(strings.Join(slices.Sorted(maps.Keys(executables)), ", "), "none"), absPath(cfg.logDir), cp.ControllerManagerLog)
}

// writeEnv writes a shell script to path that exports KUBECONFIG=kubeconfig and puts binDir, where
// kubectl is, first on PATH.
func writeEnv(path, kubeconfig, binDir string) error {
	script := fmt.Sprintf(`# The local cluster of `+"`make localcluster`"+`, for a shell in the repository: source %s
# Removed when the local cluster stops.
export KUBECONFIG=%s
export PATH=%s:"$PATH"
`, path, shellQuote(absPath(kubeconfig)), shellQuote(binDir))
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(script), 0o600)
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// checkNotRunning fails if kubeconfig exists and its API server answers: another localcluster
// is running with the same files.
func checkNotRunning(ctx context.Context, kubeconfig string) error {
	if _, err := os.Stat(kubeconfig); err != nil {
		return nil
	}
	restCfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil // not ours to judge: it is overwritten
	}
	restCfg.Timeout = 2 * time.Second
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, err := client.Discovery().RESTClient().Get().AbsPath("/version").DoRaw(ctx); err != nil {
		return nil // left over from a local cluster that did not stop cleanly
	}
	return fmt.Errorf("a local cluster is already running with %s (its API server %s answers): "+
		"stop it with Ctrl-C in its terminal, or give this one other --kubeconfig-out, --env-out and --log-dir", kubeconfig, restCfg.Host)
}

// absPath returns path made absolute if possible.
func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

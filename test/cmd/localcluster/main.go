// Command localcluster runs a local Kubernetes control plane (etcd, kube-apiserver and a
// kube-controller-manager with the workload controllers) and a simulated node for manual testing,
// until it receives SIGINT or SIGTERM. Pods get loopback IPs (127.1.0.0/16) and run no containers.
//
//	go run ./test/cmd/localcluster
//	export KUBECONFIG=$PWD/.localcluster/kubeconfig
//
// The binaries come from `make envtest`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/stablering/stablering/test/controlplane"
	"github.com/stablering/stablering/test/nodesim"
)

type config struct {
	kubeconfigOut string
	crdDir        string
	binDir        string
	maxGrace      time.Duration
	readyDelay    time.Duration
	verbosity     int
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
	flag.StringVar(&cfg.crdDir, "crds", filepath.Join("config", "crd", "bases"), "directory of CRDs to install if it exists; empty for none")
	flag.StringVar(&cfg.binDir, "bin-dir", "", "directory of etcd, kube-apiserver, kube-controller-manager and kubectl (default $KUBEBUILDER_ASSETS, else the cache of `make envtest`)")
	flag.DurationVar(&cfg.maxGrace, "max-grace", 30*time.Second, "cap on the termination grace period of deleted pods")
	flag.DurationVar(&cfg.readyDelay, "ready-delay", 0, "how long a started pod stays not ready")
	flag.IntVar(&cfg.verbosity, "v", 0, "log verbosity")
	flag.Parse()
	return cfg
}

func run(cfg config) (err error) {
	log := funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, prefix, args) }, funcr.Options{Verbosity: cfg.verbosity})
	logf.SetLogger(log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cp, err := controlplane.Start(ctx, controlplane.Options{BinDir: cfg.binDir, CRDPaths: crdPaths(log, cfg.crdDir)})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, cp.Stop()) }()
	if err := copyFile(cp.KubeconfigPath, cfg.kubeconfigOut); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, os.Remove(cfg.kubeconfigOut)) }()

	sim, err := nodesim.New(cp.Config, nodesim.Options{
		MaxGrace:   cfg.maxGrace,
		ReadyDelay: cfg.readyDelay,
		Log:        log.WithName("nodesim"),
	})
	if err != nil {
		return err
	}
	printUsage(cp, sim, cfg.kubeconfigOut)
	return sim.Run(ctx)
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

func printUsage(cp *controlplane.ControlPlane, sim *nodesim.Simulator, kubeconfig string) {
	if abs, err := filepath.Abs(kubeconfig); err == nil {
		kubeconfig = abs
	}
	fmt.Printf(`
Local cluster running: kube-apiserver %s, node %q.

  export KUBECONFIG=%s
  kubectl get nodes   # a matching kubectl is in %s

kube-controller-manager log: %s
Press Ctrl-C to stop.

`, cp.Config.Host, sim.NodeName(), kubeconfig, cp.BinDir, cp.ControllerManagerLog)
}

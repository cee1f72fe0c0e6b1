// Command manager runs the StableRing controller: it resolves every StableRing from its
// StatefulSet and pods into status, which gateways route by, and paces the StatefulSets' rollouts.
//
// Flags:
//
//	--metrics-bind-address       Prometheus metrics over plain HTTP (default ":8080"; "0" disables)
//	--health-probe-bind-address  /healthz and /readyz (default ":8081")
//	--leader-elect               elect one active replica through a Lease (config/manager enables it)
//	--leader-election-namespace  namespace of the Lease (default: the manager's own namespace)
//	--namespace                  watch only this namespace; repeat or separate with commas (default: all)
//	--zap-*                      logging, see controller-runtime's zap options
//
// Metrics are served over plain HTTP so that the manager needs no permission beyond its own work
// (authenticated HTTPS metrics would need tokenreviews and subjectaccessreviews); protect the
// port with a NetworkPolicy if needed.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/stablering/stablering/cmd/internal/version"
	"github.com/stablering/stablering/controllers"
)

// namespaces collects repeated or comma-separated --namespace flags.
type namespaces []string

func (n *namespaces) String() string { return strings.Join(*n, ",") }

func (n *namespaces) Set(value string) error {
	for ns := range strings.SplitSeq(value, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			*n = append(*n, ns)
		}
	}
	return nil
}

func main() {
	var opts controllers.ManagerOptions
	var watch namespaces
	flag.StringVar(&opts.MetricsBindAddress, "metrics-bind-address", ":8080", `address of the Prometheus metrics endpoint (plain HTTP); "0" disables it`)
	flag.StringVar(&opts.HealthProbeBindAddress, "health-probe-bind-address", ":8081", "address of the /healthz and /readyz endpoints")
	flag.BoolVar(&opts.LeaderElection, "leader-elect", false, "elect one active manager through a Lease, so several replicas can run")
	flag.StringVar(&opts.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader election Lease (default: the manager's namespace)")
	flag.Var(&watch, "namespace", "watch only this namespace; repeat the flag or separate namespaces with commas (default: all namespaces)")
	showVersion := flag.Bool("version", false, "print the version and exit")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	if *showVersion {
		fmt.Println(version.String("manager"))
		os.Exit(0)
	}
	opts.Namespaces = watch

	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")
	ctx := ctrl.SetupSignalHandler()
	mgr, err := controllers.NewManager(ctx, ctrl.GetConfigOrDie(), opts)
	if err != nil {
		log.Error(err, "cannot set up the manager")
		os.Exit(1)
	}
	log.Info("starting the manager", "version", version.Current(), "namespaces", opts.Namespaces,
		"leaderElection", opts.LeaderElection)
	if err := mgr.Start(ctx); err != nil {
		log.Error(err, "the manager stopped with an error")
		os.Exit(1)
	}
}

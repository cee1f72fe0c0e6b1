package controlplane

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/stablering/stablering/test/internal/childproc"
)

// controllerManagerStartTimeout bounds how long Start waits for kube-controller-manager.
const controllerManagerStartTimeout = 30 * time.Second

type controllerManagerConfig struct {
	path, kubeconfig, logPath string
	flags                     map[string]string
}

// startControllerManager starts kube-controller-manager and waits until its /healthz is ok.
func startControllerManager(ctx context.Context, cfg controllerManagerConfig) (*childproc.Process, error) {
	port, err := childproc.FreePort()
	if err != nil {
		return nil, err
	}
	args := flagArgs(controllerManagerFlags(cfg.kubeconfig, port), cfg.flags)
	p, err := childproc.Start(cfg.path, args, cfg.logPath)
	if err != nil {
		return nil, err
	}
	healthz := fmt.Sprintf("https://127.0.0.1:%s/healthz", port)
	if err := p.WaitHealthy(ctx, healthz, controllerManagerStartTimeout); err != nil {
		stopErr := p.Stop()
		return nil, errors.Join(fmt.Errorf("kube-controller-manager: %w; its log ends:\n%s", err, childproc.Tail(cfg.logPath, 20)), stopErr)
	}
	return p, nil
}

// controllerManagerFlags are the defaults: only the workload controllers, no leader election,
// serving /healthz on port of the loopback interface only.
func controllerManagerFlags(kubeconfig, port string) map[string]string {
	return map[string]string{
		"kubeconfig":                kubeconfig,
		"authentication-kubeconfig": kubeconfig,
		"authorization-kubeconfig":  kubeconfig,
		"controllers":               strings.Join(controllers, ","),
		"leader-elect":              "false",
		"bind-address":              "127.0.0.1",
		"secure-port":               port,
		"kube-api-qps":              "200",
		"kube-api-burst":            "400",
		"v":                         "2",
	}
}

// flagArgs merges overrides into defaults and renders them as sorted --name=value arguments.
func flagArgs(defaults, overrides map[string]string) []string {
	merged := maps.Clone(defaults)
	maps.Copy(merged, overrides)
	args := make([]string, 0, len(merged))
	for _, name := range slices.Sorted(maps.Keys(merged)) {
		args = append(args, "--"+name+"="+merged[name])
	}
	return args
}

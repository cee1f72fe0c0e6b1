package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/stablering/stablering/test/images"
	"github.com/stablering/stablering/test/realnode"
)

// runReal runs a real single-node cluster with the project's images in its registry until ctx
// ends.
func runReal(ctx context.Context, cfg config, log logr.Logger) (err error) {
	binDir, regBinary, err := realnode.Binaries(cfg.binDir)
	if err != nil {
		return err
	}
	root, err := images.ModuleRoot(ctx)
	if err != nil {
		return err
	}
	fmt.Println("starting a real node; building the images", strings.Join(imageNames(), ", "))
	c, err := realnode.Start(ctx, realnode.Options{
		ModuleRoot: root, BinDir: binDir, Registry: regBinary, Images: images.OCIImages,
		LogDir: cfg.logDir, Log: log.WithName("realnode"),
	})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Println("stopping the real node")
		err = errors.Join(err, c.Stop())
		if left := c.Leftovers(context.Background()); len(left) > 0 {
			err = errors.Join(err, fmt.Errorf("left behind: %s", strings.Join(left, "; ")))
		}
	}()
	if crds := crdPaths(log, cfg.crdDir); len(crds) > 0 {
		if _, err := envtest.InstallCRDs(c.Config, envtest.CRDInstallOptions{Paths: crds, ErrorIfPathMissing: true}); err != nil {
			return err
		}
	}
	if err := copyFile(c.KubeconfigPath, cfg.kubeconfigOut); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, os.Remove(cfg.kubeconfigOut)) }()
	if err := writeEnv(cfg.envOut, cfg.kubeconfigOut, binDir); err != nil {
		return err
	}
	defer func() { err = errors.Join(err, os.Remove(cfg.envOut)) }()
	printRealUsage(c, cfg, binDir)
	<-ctx.Done()
	return nil
}

func imageNames() []string {
	var names []string
	for _, img := range images.OCIImages {
		names = append(names, img.Name)
	}
	return names
}

func printRealUsage(c *realnode.Cluster, cfg config, binDir string) {
	var refs strings.Builder
	for _, name := range slices.Sorted(maps.Keys(c.Images)) {
		fmt.Fprintf(&refs, "  %-8s %s\n", name, c.Images[name])
	}
	fmt.Printf(`
Real node running: node %q (kubelet, containerd), kube-apiserver %s, pods on bridge %s (%s).

  source %s   # exports KUBECONFIG=%s
  %s   # and puts a matching kubectl (in %s) first on PATH
  kubectl get nodes -o wide

The project's images, in the node's registry (pull them by these references):
%s
Install StableRing: helm install stablering charts/stablering -n stablering-system --create-namespace \
  --set manager.image.repository=REPO --set manager.image.digest=DIGEST (and the same for gateway)
Components' logs: %s
Pods cannot reach beyond this machine; Services work through kube-proxy; there is no cluster DNS.

Press Ctrl-C to stop; everything the run made is removed.

`, realnode.NodeName, c.Config.Host, c.Bridge, c.PodSubnet, cfg.envOut, absPath(cfg.kubeconfigOut), strings.Repeat(" ", len("source "+cfg.envOut)), binDir,
		refs.String(), absPath(cfg.logDir))
}

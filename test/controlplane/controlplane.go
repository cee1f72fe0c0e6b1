// Package controlplane runs a local Kubernetes control plane for tests and local development:
// etcd and kube-apiserver through controller-runtime's envtest, plus a real kube-controller-manager
// limited to the workload controllers (StatefulSet, ReplicaSet, Deployment and the garbage
// collector) and the namespace controller, which empties and removes a deleted namespace. No
// scheduler or kubelet runs; package nodesim simulates a node for the pods. Nothing routes Service
// ClusterIPs (no kube-proxy), and there is no DNS.
package controlplane

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/stablering/stablering/test/internal/childproc"
)

// controllers are the kube-controller-manager controllers the control plane runs.
var controllers = []string{
	"statefulset-controller",
	"replicaset-controller",
	"deployment-controller",
	"garbage-collector-controller",
	"namespace-controller",
}

// Options configure a control plane. The zero value is usable.
type Options struct {
	// BinDir holds etcd, kube-apiserver, kube-controller-manager and kubectl; "" = BinDir().
	BinDir string
	// CRDPaths are CRD directories or files to install (e.g. config/crd/bases); they must exist.
	CRDPaths []string
	// APIServerFlags and ControllerManagerFlags add or override flags, keyed by flag name without
	// the leading dashes (e.g. {"v": "4"}).
	APIServerFlags         map[string]string
	ControllerManagerFlags map[string]string
}

// ControlPlane is a running etcd, kube-apiserver and kube-controller-manager.
type ControlPlane struct {
	// Config connects as an administrator (group system:masters).
	Config *rest.Config
	// KubeconfigPath is a kubeconfig file with the administrator's credentials, for kubectl.
	KubeconfigPath string
	// ControllerManagerLog is the file kube-controller-manager logs to.
	ControllerManagerLog string
	// BinDir is the directory of the binaries, kubectl among them.
	BinDir string

	dir string
	env *envtest.Environment
	kcm *childproc.Process
}

// Start starts etcd, kube-apiserver (with the CRDs of opts installed) and kube-controller-manager,
// and returns once all of them serve. Kubeconfigs and logs go to a temporary directory that Stop
// removes. On error, everything already started is stopped again.
func Start(ctx context.Context, opts Options) (*ControlPlane, error) {
	binDir, err := resolveBinDir(opts.BinDir)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "stablering-controlplane-")
	if err != nil {
		return nil, err
	}
	c := &ControlPlane{
		BinDir:               binDir,
		dir:                  dir,
		KubeconfigPath:       filepath.Join(dir, "kubeconfig"),
		ControllerManagerLog: filepath.Join(dir, "kube-controller-manager.log"),
	}
	if err := c.start(ctx, opts); err != nil {
		return nil, errors.Join(err, c.Stop())
	}
	return c, nil
}

// Stop stops kube-controller-manager, kube-apiserver and etcd and removes the temporary
// directory. It is safe to call more than once.
func (c *ControlPlane) Stop() error {
	var errs []error
	if c.kcm != nil {
		errs = append(errs, c.kcm.Stop())
		c.kcm = nil
	}
	if c.env != nil {
		errs = append(errs, c.env.Stop())
		c.env = nil
	}
	if c.dir != "" {
		errs = append(errs, os.RemoveAll(c.dir))
		c.dir = ""
	}
	return errors.Join(errs...)
}

func resolveBinDir(dir string) (string, error) {
	if dir == "" {
		return BinDir()
	}
	return dir, checkBinaries(dir)
}

func (c *ControlPlane) start(ctx context.Context, opts Options) error {
	if err := c.startAPIServer(opts); err != nil {
		return err
	}
	if err := os.WriteFile(c.KubeconfigPath, c.env.KubeConfig, 0o600); err != nil {
		return err
	}
	kcmUser := envtest.User{Name: "system:kube-controller-manager", Groups: []string{"system:masters"}}
	kubeconfig, err := c.writeUserKubeconfig(kcmUser, "kube-controller-manager.kubeconfig")
	if err != nil {
		return err
	}
	c.kcm, err = startControllerManager(ctx, controllerManagerConfig{
		path:       filepath.Join(c.BinDir, "kube-controller-manager"),
		kubeconfig: kubeconfig,
		logPath:    c.ControllerManagerLog,
		flags:      opts.ControllerManagerFlags,
	})
	return err
}

// startAPIServer starts etcd and kube-apiserver. envtest disables the ServiceAccount admission
// plugin, so pods need no service account or token controller.
func (c *ControlPlane) startAPIServer(opts Options) error {
	c.env = &envtest.Environment{
		BinaryAssetsDirectory: c.BinDir,
		CRDDirectoryPaths:     opts.CRDPaths,
		ErrorIfCRDPathMissing: true,
	}
	args := c.env.ControlPlane.GetAPIServer().Configure()
	for name, value := range opts.APIServerFlags {
		args.Set(name, value)
	}
	cfg, err := c.env.Start()
	if err != nil {
		return fmt.Errorf("starting etcd and kube-apiserver: %w", err)
	}
	c.Config = cfg
	return nil
}

// writeUserKubeconfig provisions user and writes its kubeconfig to file in the directory.
func (c *ControlPlane) writeUserKubeconfig(user envtest.User, file string) (string, error) {
	u, err := c.env.AddUser(user, nil)
	if err != nil {
		return "", fmt.Errorf("adding user %s: %w", user.Name, err)
	}
	data, err := u.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(c.dir, file)
	return path, os.WriteFile(path, data, 0o600)
}

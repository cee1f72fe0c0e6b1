package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/stablering/stablering/controllers"
	"github.com/stablering/stablering/test/images"
	"github.com/stablering/stablering/test/realnode"
)

// NodeKind is which node runs the pods.
type NodeKind string

const (
	// NodeReal is a real kubelet with containerd (package realnode): the project's images from a
	// local registry, pods in network namespaces, Services through kube-proxy, the chart
	// installed with helm.
	NodeReal NodeKind = "real"
	// NodeSimulated is the simulated node (package nodesim): pods of the project's images run
	// as local processes on loopback addresses, no Services.
	NodeSimulated NodeKind = "simulated"
)

// NodeEnv chooses the node ("real" or "simulated") instead of DefaultNode's choice.
const NodeEnv = "STABLERING_NODE"

// DefaultNode is the node of NodeEnv if set, else the real node where it can run (or must:
// realnode.RequireEnv=1), else the simulated one. The reason says why.
func DefaultNode() (kind NodeKind, reason string, err error) {
	switch v := os.Getenv(NodeEnv); NodeKind(v) {
	case NodeReal, NodeSimulated:
		return NodeKind(v), NodeEnv + "=" + v, nil
	case "":
	default:
		return "", "", fmt.Errorf("%s=%q: want %q or %q", NodeEnv, v, NodeReal, NodeSimulated)
	}
	if os.Getenv(realnode.RequireEnv) == "1" {
		return NodeReal, realnode.RequireEnv + "=1", nil
	}
	_, _, missing := realnode.Binaries("")
	if missing == nil {
		return NodeReal, "a real node can run here", nil
	}
	return NodeSimulated, "no real node here: " + missing.Error(), nil
}

// startReal starts the real node with the manager, gateway and chat images, and installs the
// CRD unless NoCRD.
func (c *Cluster) startReal(ctx context.Context) error {
	binDir, regBinary, err := realnode.Binaries("")
	if err != nil {
		return err
	}
	c.progress("starting a real node (containerd, kubelet, kube-proxy) and its control plane; building the images %s", strings.Join(imageNames(images.OCIImages), ", "))
	c.Real, err = realnode.Start(ctx, realnode.Options{
		ModuleRoot: c.Root,
		BinDir:     binDir,
		Registry:   regBinary,
		Images:     images.OCIImages,
		LogDir:     c.LogDir,
		Log:        c.opts.Log.WithName("realnode"),
	})
	if err != nil {
		return err
	}
	c.cleanups = append(c.cleanups, c.Real.Stop)
	c.Kubeconfig, c.BinDir = c.Real.KubeconfigPath, binDir
	scheme, err := controllers.Scheme()
	if err != nil {
		return err
	}
	if c.Client, err = client.NewWithWatch(c.Real.Config, client.Options{Scheme: scheme}); err != nil {
		return err
	}
	if c.Kube, err = kubernetes.NewForConfig(c.Real.Config); err != nil {
		return err
	}
	c.chatImage = c.Real.Images["chat"]
	if !c.opts.NoCRD {
		_, err := envtest.InstallCRDs(c.Real.Config, envtest.CRDInstallOptions{Paths: []string{c.Root + "/config/crd/bases"}, ErrorIfPathMissing: true})
		return err
	}
	return nil
}

// installReal installs the chart with helm: the manager (one replica) and the gateway
// Deployments with their Services, the images by digest from the node's registry, and short
// shutdown and reunion windows.
func (c *Cluster) installReal(ctx context.Context) error {
	helm := os.Getenv("HELM")
	if helm == "" {
		return fmt.Errorf("set HELM to the helm binary (make test and make demo do)")
	}
	c.progress("helm install %s: the manager and %d gateway replicas with their Services", ReleaseName, c.opts.GatewayReplicas)
	args := []string{"upgrade", "--install", ReleaseName, c.Root + "/charts/stablering",
		"--namespace", SystemNamespace, "--create-namespace", "--kubeconfig", c.Kubeconfig,
		"--set", "manager.replicas=1",
		"--set", fmt.Sprintf("gateway.replicas=%d", c.opts.GatewayReplicas),
		"--set", "gateway.shutdownDelay=1s",
		"--set", "gateway.shutdownWindow=2s",
		"--set", "gateway.limits.reunionWindow=2s",
		"--set", "gateway.terminationGracePeriodSeconds=10",
	}
	for _, component := range []string{"manager", "gateway"} {
		ref, err := name.NewDigest(c.Real.Images[component])
		if err != nil {
			return fmt.Errorf("the %s image: %w", component, err)
		}
		args = append(args,
			"--set", fmt.Sprintf("%s.image.repository=%s", component, ref.Context().Name()),
			"--set", fmt.Sprintf("%s.image.digest=%s", component, ref.DigestStr()))
	}
	for i, a := range c.opts.GatewayArgs {
		args = append(args, "--set-string", fmt.Sprintf("gateway.extraArgs[%d]=%s", i, a))
	}
	if !c.opts.NoCRD {
		args = append(args, "--skip-crds") // Start installed it
	}
	cmd := exec.CommandContext(ctx, helm, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	if err := c.WaitDeploymentReady(ctx, ManagerName); err != nil {
		return err
	}
	return c.WaitDeploymentReady(ctx, GatewayName)
}

// gatewayServiceAddr is the gateway Service's ClusterIP and port: kube-proxy spreads its
// connections over the Ready gateway pods.
func (c *Cluster) gatewayServiceAddr(ctx context.Context) (string, error) {
	svc, err := c.Kube.CoreV1().Services(SystemNamespace).Get(ctx, GatewayName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("no gateway Service %s/%s: %w", SystemNamespace, GatewayName, err)
	}
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s:%d", svc.Spec.ClusterIP, svc.Spec.Ports[0].Port), nil
}

func imageNames(imgs []images.Image) []string {
	names := make([]string, len(imgs))
	for i, img := range imgs {
		names[i] = img.Name
	}
	return names
}

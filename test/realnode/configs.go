package realnode

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	componentbasev1alpha1 "k8s.io/component-base/config/v1alpha1"
	kubeproxyv1alpha1 "k8s.io/kube-proxy/config/v1alpha1"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"sigs.k8s.io/yaml"
)

// The configuration files of the node's components, rendered from the run's layout. The kubelet's
// and kube-proxy's use their own typed configuration APIs, so a misspelt field does not compile.

// containerdConfig is containerd's config.toml: its own root, state and socket under the run
// directory, the CRI plugin with runc, the CNI configuration of the run, registry hosts from
// certsDir (see hostsTOML) and the project's pause image as the sandbox image.
//
// restrict_oom_score_adj: without CAP_SYS_RESOURCE (as in some sandboxes) runc cannot set the
// pause container's negative oom_score_adj and dies with "can't get final child's PID from pipe".
var containerdConfig = template.Must(template.New("config.toml").Parse(`version = 2
root = "{{.Root}}"
state = "{{.State}}"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "{{.Socket}}"

[ttrpc]
  address = "{{.Socket}}.ttrpc"

[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{{.PauseImage}}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{{.CNIBinDir}}"
    conf_dir = "{{.CNIConfDir}}"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{{.CertsDir}}"
`))

// hostsTOML tells containerd to reach registry host over plain HTTP: the run's registry listens
// on loopback without TLS.
func hostsTOML(host string) string {
	return fmt.Sprintf("server = %q\n\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n", "http://"+host, "http://"+host)
}

// cniConfig is the pods' network: the bridge plugin on the run's bridge (not the pods' default
// gateway itself: the node's address on it is), addresses from host-local IPAM in the pod subnet.
func cniConfig(net network, ipamDir string) ([]byte, error) {
	type rng struct {
		Subnet     string `json:"subnet"`
		RangeStart string `json:"rangeStart"`
		RangeEnd   string `json:"rangeEnd"`
		Gateway    string `json:"gateway"`
	}
	conf := map[string]any{
		"cniVersion": "0.4.0",
		"name":       net.Bridge,
		"plugins": []any{map[string]any{
			"type":        "bridge",
			"bridge":      net.Bridge,
			"isGateway":   false,
			"ipMasq":      false,
			"hairpinMode": true,
			"ipam": map[string]any{
				"type":    "host-local",
				"dataDir": ipamDir,
				"ranges":  [][]rng{{{Subnet: net.PodSubnet.String(), RangeStart: net.addr(10), RangeEnd: net.addr(250), Gateway: net.NodeIP.String()}}},
				"routes":  []map[string]string{{"dst": "0.0.0.0/0", "gw": net.NodeIP.String()}},
			},
		}},
	}
	return json.MarshalIndent(conf, "", "  ")
}

// kubeletConfig is the kubelet's configuration: the run's containerd, cgroup v1 or v2 with the
// cgroupfs driver under the run's cgroup root, x509 client authentication by the run's CA, no
// read-only port, its files under the run directory, and eviction thresholds low enough for a
// development machine's disk.
func kubeletConfig(l layout, net network, ports ports) kubeletv1beta1.KubeletConfiguration {
	return kubeletv1beta1.KubeletConfiguration{
		TypeMeta:                 metav1.TypeMeta{APIVersion: "kubelet.config.k8s.io/v1beta1", Kind: "KubeletConfiguration"},
		Address:                  net.NodeIP.String(),
		Port:                     ports.kubelet,
		ReadOnlyPort:             0,
		HealthzBindAddress:       "127.0.0.1",
		HealthzPort:              &ports.kubeletHealthz,
		ContainerRuntimeEndpoint: "unix://" + l.containerdSocket(),
		CgroupDriver:             "cgroupfs",
		CgroupRoot:               cgroupRoot,
		FailSwapOn:               ptr(false),
		FailCgroupV1:             ptr(false), // 1.36 refuses cgroup v1 unless told
		Authentication: kubeletv1beta1.KubeletAuthentication{
			Anonymous: kubeletv1beta1.KubeletAnonymousAuthentication{Enabled: ptr(false)},
			Webhook:   kubeletv1beta1.KubeletWebhookAuthentication{Enabled: ptr(false)},
			X509:      kubeletv1beta1.KubeletX509Authentication{ClientCAFile: l.pki("ca", ".crt")},
		},
		Authorization:               kubeletv1beta1.KubeletAuthorization{Mode: kubeletv1beta1.KubeletAuthorizationModeAlwaysAllow},
		ResolverConfig:              ptr(l.path("resolv.conf")),
		PodLogsDir:                  l.path("pod-logs"),
		VolumePluginDir:             l.path("kubelet", "volume-plugins"),
		EvictionHard:                map[string]string{"memory.available": "100Mi", "nodefs.available": "2%", "imagefs.available": "2%"},
		ImageGCHighThresholdPercent: ptr(int32(99)),
		ImageGCLowThresholdPercent:  ptr(int32(98)),
		// Pods' status reaches the API server promptly: the e2e suite times readiness changes.
		NodeStatusUpdateFrequency: metav1.Duration{Duration: 5 * time.Second},
		SyncFrequency:             metav1.Duration{Duration: 10 * time.Second},
	}
}

// kubeProxyConfig is kube-proxy's configuration: nftables mode (tables of its own, no iptables
// chains), Services for the pod subnet, node ports only on the node's bridge address, and no
// conntrack sysctls changed (zeros leave them as they are).
func kubeProxyConfig(l layout, net network, ports ports) kubeproxyv1alpha1.KubeProxyConfiguration {
	return kubeproxyv1alpha1.KubeProxyConfiguration{
		TypeMeta:           metav1.TypeMeta{APIVersion: "kubeproxy.config.k8s.io/v1alpha1", Kind: "KubeProxyConfiguration"},
		ClientConnection:   componentbasev1alpha1.ClientConnectionConfiguration{Kubeconfig: l.kubeconfig(proxyUser.file)},
		Mode:               "nftables",
		HostnameOverride:   NodeName,
		BindAddress:        net.NodeIP.String(),
		HealthzBindAddress: fmt.Sprintf("127.0.0.1:%d", ports.proxyHealthz),
		MetricsBindAddress: fmt.Sprintf("127.0.0.1:%d", ports.proxyMetrics),
		ClusterCIDR:        net.PodSubnet.String(),
		NodePortAddresses:  []string{net.NodeIP.String() + "/32"},
		Conntrack: kubeproxyv1alpha1.KubeProxyConntrackConfiguration{
			MaxPerCore:            ptr(int32(0)),
			Min:                   ptr(int32(0)),
			TCPEstablishedTimeout: &metav1.Duration{},
			TCPCloseWaitTimeout:   &metav1.Duration{},
			UDPTimeout:            metav1.Duration{},
			UDPStreamTimeout:      metav1.Duration{},
		},
	}
}

// writeYAML writes obj as YAML to path.
func writeYAML(path string, obj any) error {
	data, err := yaml.Marshal(obj)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

// writeTemplate renders t with data into path.
func writeTemplate(path string, t *template.Template, data any) error {
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// writeKubeconfig writes a kubeconfig for u's client certificate against server.
func writeKubeconfig(l layout, u user, server string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["realnode"] = &clientcmdapi.Cluster{Server: server, CertificateAuthority: l.pki("ca", ".crt")}
	cfg.AuthInfos[u.file] = &clientcmdapi.AuthInfo{ClientCertificate: l.pki(u.file, ".crt"), ClientKey: l.pki(u.file, ".key")}
	cfg.Contexts["realnode"] = &clientcmdapi.Context{Cluster: "realnode", AuthInfo: u.file}
	cfg.CurrentContext = "realnode"
	return clientcmd.WriteToFile(*cfg, l.kubeconfig(u.file))
}

// writeFiles writes each file (by path) with its content, creating directories.
func writeFiles(files map[string][]byte) error {
	for path, data := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

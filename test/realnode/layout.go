package realnode

import (
	"fmt"
	"net/netip"
	"path/filepath"
)

// Fixed names of what a run creates on the machine outside its run directory. Only one run at a
// time holds the machine (see lock), so they need not be unique; Leftovers and the next Start
// recognise them.
const (
	// NodeName is the node's name in the API.
	NodeName = "realnode"
	// cgroupRoot is the kubelet's cgroup root, in every cgroup hierarchy.
	cgroupRoot = "/stablering-realnode"
	// nftTable is the run's own nftables table (family inet): it keeps pods' traffic on the machine.
	nftTable = "stablering-realnode"
)

// network is the addresses of a run: pods on a bridge of their own, the node's address on it,
// and the Service range routed to the bridge.
type network struct {
	Bridge        string
	PodSubnet     netip.Prefix
	NodeIP        netip.Addr // the bridge's address: the pods' default gateway, the API server's
	ServiceSubnet netip.Prefix
}

// defaultNetwork is the network of every run.
var defaultNetwork = network{
	Bridge:        "srnode0",
	PodSubnet:     netip.MustParsePrefix("10.244.77.0/24"),
	NodeIP:        netip.MustParseAddr("10.244.77.1"),
	ServiceSubnet: netip.MustParsePrefix("10.96.0.0/24"),
}

// addr is the address with last byte i in the pod subnet.
func (n network) addr(i byte) string {
	a := n.PodSubnet.Addr().As4()
	a[3] = i
	return netip.AddrFrom4(a).String()
}

// apiServiceIP is the ClusterIP of the "kubernetes" Service: the first address of the range.
func (n network) apiServiceIP() netip.Addr { return n.ServiceSubnet.Addr().Next() }

// ports are the TCP ports of the run's components, found free when the run starts.
type ports struct {
	etcd, etcdPeer, apiServer, controllerManager, scheduler int32
	kubelet, kubeletHealthz, proxyHealthz, proxyMetrics     int32
}

// layout is the run directory and the names of the files in it, and the directory of the
// components' logs (by default logs/ in the run directory).
type layout struct{ dir, logDir string }

func (l layout) path(elem ...string) string {
	return filepath.Join(append([]string{l.dir}, elem...)...)
}
func (l layout) pki(name, ext string) string   { return l.path("pki", name+ext) }
func (l layout) kubeconfig(file string) string { return l.path(file + ".kubeconfig") }
func (l layout) log(name string) string        { return filepath.Join(l.logDir, name+".log") }
func (l layout) containerdSocket() string      { return l.path("containerd", "containerd.sock") }
func (l layout) apiServer(n network, p ports) string {
	return fmt.Sprintf("https://%s:%d", n.NodeIP, p.apiServer)
}

// The users of the run's client certificates.
var (
	adminUser             = user{file: "admin", name: "admin", groups: []string{"system:masters"}}
	kubeletUser           = user{file: "kubelet", name: "system:node:" + NodeName, groups: []string{"system:nodes"}}
	controllerManagerUser = user{file: "kube-controller-manager", name: "system:kube-controller-manager"}
	schedulerUser         = user{file: "kube-scheduler", name: "system:kube-scheduler"}
	proxyUser             = user{file: "kube-proxy", name: "system:kube-proxy"}
	// apiServerKubeletUser is how the API server reaches the kubelet (logs, exec, port-forward).
	apiServerKubeletUser = user{file: "apiserver-kubelet-client", name: "kube-apiserver-kubelet-client", groups: []string{"system:masters"}}
)

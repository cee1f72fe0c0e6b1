package install_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stablering/stablering/gateway"
	"github.com/stablering/stablering/test/controlplane"
	"github.com/stablering/stablering/test/e2e/harness"
)

// installRooms are the room keys whose routing TestRealInstall checks.
var installRooms = []string{"lobby", "room-1", "room-2", "room-3", "room-4", "room-5", "room-6", "room-7"}

// TestRealInstall installs StableRing for real on a local control plane whose simulated node
// runs the pods of the project's images as processes (package harness): first the chart with
// `helm install`, then config/default with `kubectl apply -k`. Each time the manager and gateway
// run as their own service accounts, so the RBAC the install creates is all they have; the test
// waits until their Deployments are Ready, then checks that the chat StatefulSet's StableRing
// routes HTTP requests and WebSockets through every installed gateway pod to the member
// /debug/lookup names (after config/default's manager has followed a scale-up to 4 members), and
// that removing the install (helm uninstall; deleting the Deployments) stops the processes and
// keeps the CRD. The control plane starts without the CRD: the chart's crds/ directory installs
// it.
//
// There are no network namespaces on the simulated node, so both installs bind their pod IPs:
// the chart with bindPodIP=true, config/default through a kustomize overlay that patches the
// gateway's addresses (its manager binds the pod IP already). There are no Services or
// kube-proxy either: clients dial the gateway pods' IPs.
func TestRealInstall(t *testing.T) {
	if reason := controlplane.SkipReason(); reason != "" {
		t.Skip(reason)
	}
	helm := helmBinary(t)
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	c, err := harness.Start(ctx, harness.Options{
		Node:       harness.NodeSimulated, // the installs bind pod IPs, as the simulated node needs
		ModuleRoot: root,
		NoCRD:      true, // helm installs it from the chart's crds/
		Log:        logr.Discard(),
		Progress:   func(s string) { t.Log(s) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpLogs(t, c.LogDir)
		}
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	kubeconfig := c.CP.KubeconfigPath
	kubectl := filepath.Join(c.CP.BinDir, "kubectl")
	app := harness.App{Namespace: "chat", Name: "chat"}

	t.Run("helm install", func(t *testing.T) {
		run(t, helm, "install", releaseName, chartDir,
			"--namespace", releaseNamespace, "--create-namespace", "--kubeconfig", kubeconfig,
			"--set", "bindPodIP=true",
			"--set", "manager.replicas=1",
			"--set", "gateway.replicas=2",
			"--set", "gateway.shutdownDelay=1s",
			"--set", "gateway.shutdownWindow=2s",
			"--set", "gateway.terminationGracePeriodSeconds=10",
		)
		waitInstalled(ctx, t, c)
		if err := c.DeployChat(ctx, app, 3, harness.RingOptions{BatchSize: 1}); err != nil {
			t.Fatal(err)
		}
		checkTraffic(ctx, t, c, app)

		run(t, helm, "uninstall", releaseName, "--namespace", releaseNamespace, "--kubeconfig", kubeconfig)
		waitRemoved(ctx, t, c)
	})
	if t.Failed() {
		return
	}

	t.Run("kubectl apply -k", func(t *testing.T) {
		overlay := kustomizeOverlay(t, filepath.Join(root, "config", "default"))
		run(t, kubectl, "apply", "-k", overlay, "--kubeconfig", kubeconfig)
		waitInstalled(ctx, t, c)
		// The ring was resolved by the chart's manager; this one must follow a scale-up.
		if err := c.Scale(ctx, app, 4); err != nil {
			t.Fatal(err)
		}
		if err := c.WaitRingServing(ctx, app, 4, 2*time.Minute); err != nil {
			t.Fatal(err)
		}
		checkTraffic(ctx, t, c, app)

		run(t, kubectl, "delete", "deployment", harness.ManagerName, harness.GatewayName,
			"--namespace", releaseNamespace, "--kubeconfig", kubeconfig)
		waitRemoved(ctx, t, c)
	})
}

// waitInstalled waits until the manager and gateway Deployments are Ready.
func waitInstalled(ctx context.Context, t *testing.T, c *harness.Cluster) {
	t.Helper()
	for _, name := range []string{harness.ManagerName, harness.GatewayName} {
		if err := c.WaitDeploymentReady(ctx, name); err != nil {
			t.Fatalf("Deployment %s not Ready: %v", name, err)
		}
	}
}

// checkTraffic checks through every Ready gateway pod that each room's HTTP requests and
// WebSockets reach the member the gateway's /debug/lookup names as the room's owner.
func checkTraffic(ctx context.Context, t *testing.T, c *harness.Cluster, app harness.App) {
	t.Helper()
	pods, err := c.GatewayPods(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) == 0 {
		t.Fatal("no Ready gateway pods")
	}
	owners := map[string]string{}
	for _, room := range installRooms {
		for _, p := range pods {
			owner := lookupOwner(ctx, t, p, app, room)
			if prev, ok := owners[room]; ok && prev != owner {
				t.Fatalf("room %s: gateway pods disagree on its owner (%s, %s)", room, prev, owner)
			}
			owners[room] = owner
		}
	}
	t.Logf("owners by room: %v", owners)

	var conns []*websocket.Conn
	defer func() {
		for _, conn := range conns {
			_ = conn.Close(websocket.StatusNormalClosure, "")
		}
	}()
	for _, p := range pods {
		addr := fmt.Sprintf("%s:%d", p.Status.PodIP, harness.GatewayPort)
		for _, room := range installRooms {
			// HTTP: the chat pod answering /rooms names itself.
			var rooms struct {
				Pod string `json:"pod"`
			}
			getJSON(ctx, t, fmt.Sprintf("http://%s/rooms?room=%s", addr, room), &rooms)
			if rooms.Pod != owners[room] {
				t.Errorf("GET /rooms?room=%s through %s reached %s, want %s", room, p.Name, rooms.Pod, owners[room])
			}
			// WebSocket: kept open, so the members report the room below.
			dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
			conn, resp, err := websocket.Dial(dctx, fmt.Sprintf("ws://%s/ws?room=%s", addr, room), nil)
			dcancel()
			if resp != nil && resp.Body != nil {
				_ = resp.Body.Close()
			}
			if err != nil {
				t.Fatalf("WebSocket to room %s through %s: %v", room, p.Name, err)
			}
			conns = append(conns, conn)
		}
	}
	var placement map[string][]string
	deadline := time.Now().Add(30 * time.Second)
	for {
		placement, err = c.RoomPlacement(ctx, app)
		if err == nil && len(placement) == len(installRooms) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("room placement %v (%v), want all of %v", placement, err, installRooms)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, room := range installRooms {
		if got := placement[room]; !slices.Equal(got, []string{owners[room]}) {
			t.Errorf("room %s has members on %v, want only on %s", room, got, owners[room])
		}
	}
}

// lookupOwner asks a gateway pod's /debug/lookup for the member that owns room and checks the
// gateway proxies to it.
func lookupOwner(ctx context.Context, t *testing.T, p corev1.Pod, app harness.App, room string) string {
	t.Helper()
	var view gateway.LookupView
	getJSON(ctx, t, fmt.Sprintf("http://%s:%d/debug/lookup?ring=%s/%s&key=%s", p.Status.PodIP, harness.GatewayAdmin, app.Namespace, app.Name, room), &view)
	if view.Owner == nil || view.Action != "proxy" || view.Member == nil || view.Member.Pod != view.Owner.Pod {
		b, _ := json.Marshal(view)
		t.Fatalf("gateway %s: lookup of room %s: %s, want it proxied to its owner", p.Name, room, b)
	}
	return view.Owner.Pod
}

func getJSON(ctx context.Context, t *testing.T, url string, v any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// waitRemoved waits until no manager or gateway pod and no process of their images is left, and
// checks that the StableRing CRD is still there.
func waitRemoved(ctx context.Context, t *testing.T, c *harness.Cluster) {
	t.Helper()
	exes := []string{c.Executables["stablering/manager:dev"], c.Executables["stablering/gateway:dev"]}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		pods := &corev1.PodList{}
		if err := c.Client.List(ctx, pods, client.InNamespace(releaseNamespace)); err != nil {
			t.Fatal(err)
		}
		procs := processesOf(exes)
		if len(pods.Items) == 0 && len(procs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the uninstall: %d pods in %s, processes %v", len(pods.Items), releaseNamespace, procs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	crd := &unstructured.Unstructured{}
	crd.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
	if err := c.Client.Get(ctx, client.ObjectKey{Name: "stablerings.ring.stablering.io"}, crd); err != nil {
		t.Fatalf("the StableRing CRD after the uninstall: %v", err)
	}
}

// processesOf returns the pids of the processes running one of exes (Linux /proc).
func processesOf(exes []string) []string {
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var pids []string
	for _, cmdline := range cmdlines {
		data, err := os.ReadFile(cmdline)
		if err != nil || len(data) == 0 {
			continue
		}
		exe, _, _ := strings.Cut(string(data), "\x00")
		if slices.Contains(exes, exe) {
			pids = append(pids, filepath.Base(filepath.Dir(cmdline)))
		}
	}
	return pids
}

// kustomizeOverlay writes a kustomization over base that makes the gateway bind its pod IP, with
// short shutdown windows, and returns its directory.
func kustomizeOverlay(t *testing.T, base string) string {
	t.Helper()
	dir := t.TempDir()
	rel, err := filepath.Rel(dir, base)
	if err != nil {
		t.Fatal(err)
	}
	kustomization := fmt.Sprintf(`resources:
- %s
patches:
- target:
    kind: Deployment
    name: %s
  patch: |-
    - op: replace
      path: /spec/template/spec/containers/0/args
      value:
      - --listen=[$(POD_IP)]:%d
      - --admin=[$(POD_IP)]:%d
      - --shutdown-delay=1s
      - --shutdown-window=2s
    - op: add
      path: /spec/template/spec/containers/0/env
      value:
      - name: POD_IP
        valueFrom:
          fieldRef:
            fieldPath: status.podIP
    - op: add
      path: /spec/template/spec/terminationGracePeriodSeconds
      value: 10
`, rel, harness.GatewayName, harness.GatewayPort, harness.GatewayAdmin)
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(kustomization), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// dumpLogs logs the tail of every process log of the release namespace's pods under dir.
func dumpLogs(t *testing.T, dir string) {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(dir, releaseNamespace+"_*.log")) // nodesim's LogPath
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if len(data) > 3000 {
			data = data[len(data)-3000:]
		}
		t.Logf("%s:\n%s", path, data)
	}
}

package monitoring

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/go-logr/logr"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/controllers"
	"github.com/stablering/stablering/gateway"
	"github.com/stablering/stablering/gateway/source"
	"github.com/stablering/stablering/test/controlplane"
	"github.com/stablering/stablering/test/internal/childproc"
	"github.com/stablering/stablering/test/nodesim"
)

// memberPort is the port the ring members listen on, on their pod IPs.
const memberPort = 8080

// TestQueriedMetricsAreExported runs the manager and a gateway (their packages, in-process) on a
// local control plane with a simulated node, drives them until every kind of event the
// dashboard shows has happened once (a request, a WebSocket, a hold, an upgrade refused by the
// admission limit, a rollout with its drain), scrapes their /metrics pages (the gateway's also
// while the WebSocket is open) and checks that every metric the alert rules and the dashboard
// query is there, with samples.
func TestQueriedMetricsAreExported(t *testing.T) {
	if reason := controlplane.SkipReason(); reason != "" {
		t.Skip(reason)
	}
	logf.SetLogger(logr.Discard())
	g := NewWithT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	queried := queriedMetrics(t)
	cp, err := controlplane.Start(ctx, controlplane.Options{CRDPaths: []string{"../../config/crd/bases"}})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { g.Expect(cp.Stop()).To(Succeed()) })
	runNode(t, cp.Config)
	managerMetrics := runManager(t, cp.Config)
	proxy, admin := runGateway(t, cp.Config)

	scheme, err := controllers.Scheme()
	g.Expect(err).NotTo(HaveOccurred())
	k, err := client.New(cp.Config, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())
	createRing(ctx, g, k, "chat", 2, 1)
	createRing(ctx, g, k, "empty", 0, 0)

	// A plain request and a WebSocket through the gateway, once the ring's members serve.
	g.Eventually(func() int { return get(ctx, g, proxy+"/chat/?room=lobby") }, time.Minute, 200*time.Millisecond).Should(Equal(http.StatusOK))
	ws, resp, err := websocket.Dial(ctx, "ws"+proxy[len("http"):]+"/chat/ws?room=lobby", nil) //nolint:bodyclose // coder/websocket closes it with the connection
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(resp.StatusCode).To(Equal(http.StatusSwitchingProtocols))
	defer func() { _ = ws.CloseNow() }()
	// The ring admits one new connection per second and member: a second one at once is refused.
	g.Eventually(func() error {
		c, resp, err := websocket.Dial(ctx, "ws"+proxy[len("http"):]+"/chat/ws?room=lobby", nil)
		if resp != nil && resp.Body != nil {
			_ = resp.Body.Close()
		}
		if err == nil {
			_ = c.CloseNow()
			return errors.New("admitted")
		}
		if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
			return fmt.Errorf("%w, want 503", err)
		}
		return nil
	}, 10*time.Second).Should(Succeed())
	// A ring without members holds every room.
	g.Expect(get(ctx, g, proxy+"/empty/?room=lobby")).To(Equal(http.StatusServiceUnavailable))
	// Metrics of open connections have series only while there are some: scrape while the
	// WebSocket is open too.
	whileOpen := scrape(ctx, g, admin+"/metrics")

	// A rollout: the gateway closes the WebSocket when its member drains.
	var sts appsv1.StatefulSet
	g.Expect(k.Get(ctx, client.ObjectKey{Namespace: "default", Name: "chat"}, &sts)).To(Succeed())
	sts.Spec.Template.Annotations = map[string]string{"example.com/rollout": "1"}
	g.Expect(k.Update(ctx, &sts)).To(Succeed())
	_, _, err = ws.Read(ctx)
	g.Expect(websocket.CloseStatus(err)).NotTo(Equal(websocket.StatusCode(-1)), "the WebSocket ended with %v, want a close by the gateway", err)

	g.Eventually(func() []string {
		exported := scrape(ctx, g, managerMetrics)
		for name := range scrape(ctx, g, admin+"/metrics") {
			exported[name] = true
		}
		for name := range whileOpen {
			exported[name] = true
		}
		var missing []string
		for name, where := range queried {
			if !exported[name] {
				missing = append(missing, fmt.Sprintf("%s (%s)", name, where))
			}
		}
		slices.Sort(missing)
		return missing
	}, 30*time.Second, time.Second).Should(BeEmpty(), "metrics queried but exported by neither the manager nor the gateway")
}

// queriedMetrics returns every metric name the alert rules and the dashboard query, with where.
func queriedMetrics(t *testing.T) map[string]string {
	t.Helper()
	rules, err := LoadRules(RulesFile)
	if err != nil {
		t.Fatal(err)
	}
	queries, err := DashboardQueries(DashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		queries = append(queries, Query{Where: "alert " + r.Alert, Expr: r.Expr})
	}
	queried := map[string]string{}
	for _, q := range queries {
		names, err := MetricNames(q.Expr)
		if err != nil {
			t.Fatalf("%s: %v", q.Where, err)
		}
		if len(names) == 0 {
			t.Fatalf("%s: %q queries no metric", q.Where, q.Expr)
		}
		for _, n := range names {
			queried[n] = q.Where
		}
	}
	return queried
}

// runNode simulates a node whose pods serve as ring members: plain requests and WebSocket
// echoes on their pod IPs.
func runNode(t *testing.T, cfg *rest.Config) {
	t.Helper()
	sim, err := nodesim.New(cfg, nodesim.Options{MaxGrace: time.Second, ProbePeriod: 200 * time.Millisecond, Runtime: &memberRuntime{servers: map[string]*http.Server{}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sim.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

// runManager runs the StableRing manager, with leader election, and returns its metrics URL.
func runManager(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	port, err := childproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	mgr, err := controllers.NewManager(ctx, cfg, controllers.ManagerOptions{
		MetricsBindAddress:      "127.0.0.1:" + port,
		HealthProbeBindAddress:  "0",
		LeaderElection:          true,
		LeaderElectionNamespace: "default",
	})
	if err != nil {
		stop()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return "http://127.0.0.1:" + port + "/metrics"
}

// runGateway runs a gateway on the Kubernetes API and returns its proxy and admin URLs.
func runGateway(t *testing.T, cfg *rest.Config) (proxy, admin string) {
	t.Helper()
	g := gateway.New(gateway.Options{ShutdownWindow: 100 * time.Millisecond})
	proxyLn, err := gateway.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served, sourced := make(chan error, 1), make(chan error, 1)
	go func() { served <- g.Serve(ctx, proxyLn, adminLn) }()
	go func() { sourced <- (&source.Informer{Config: cfg}).Run(ctx, g.Update) }()
	t.Cleanup(func() {
		stop()
		if err := errors.Join(<-served, <-sourced); err != nil {
			t.Error(err)
		}
	})
	return "http://" + proxyLn.Addr().String(), "http://" + adminLn.Addr().String()
}

// createRing creates a StatefulSet of replicas pods in namespace default and a StableRing over
// it that routes the path prefix /name, keyed by the query parameter room, rolling one member at
// a time with a one-second drain and admitting maxConnects new connections per second and member.
func createRing(ctx context.Context, g Gomega, k client.Client, name string, replicas, maxConnects int32) {
	labels := map[string]string{"app": name}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To(replicas),
			Selector:            &metav1.LabelSelector{MatchLabels: labels},
			PodManagementPolicy: appsv1.ParallelPodManagement,
			UpdateStrategy:      appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "member", Image: "member",
					Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: memberPort}},
				}}},
			},
		},
	}
	g.Expect(k.Create(ctx, sts)).To(Succeed())
	ring := &v1alpha1.StableRing{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: v1alpha1.StableRingSpec{
			StatefulSetName: name,
			Port:            intstr.FromString("http"),
			Key:             v1alpha1.KeySpec{Source: v1alpha1.KeySourceQuery, Name: "room"},
			Route:           v1alpha1.RouteSpec{PathPrefix: "/" + name},
			Rollout: v1alpha1.RolloutSpec{
				BatchSize: ptr.To(intstr.FromInt32(1)), DrainSeconds: 1, MaxConnectsPerSecond: maxConnects,
			},
		},
	}
	g.Expect(k.Create(ctx, ring)).To(Succeed())
}

// get returns the status code of a GET of url.
func get(ctx context.Context, g Gomega, url string) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	g.Expect(err).NotTo(HaveOccurred())
	resp, err := http.DefaultClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// scrape returns the names of the samples on the /metrics page at url.
func scrape(ctx context.Context, g Gomega, url string) map[string]bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	g.Expect(err).NotTo(HaveOccurred())
	resp, err := http.DefaultClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK), url)
	names, err := ExportedNames(resp.Body)
	g.Expect(err).NotTo(HaveOccurred(), url)
	return names
}

// memberRuntime runs each pod as an HTTP server on its pod IP: 200 for a plain request, an echo
// for a WebSocket.
type memberRuntime struct {
	mu      sync.Mutex
	servers map[string]*http.Server // by namespace/name
}

var _ nodesim.Runtime = (*memberRuntime)(nil)

// Start serves on the pod's IP.
func (r *memberRuntime) Start(_ context.Context, pod *corev1.Pod, ip string) error {
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, fmt.Sprint(memberPort)))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(serveMember), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.servers[pod.Namespace+"/"+pod.Name] = srv
	return nil
}

// Ready is true once started.
func (r *memberRuntime) Ready(context.Context, *corev1.Pod, string) bool { return true }

// Stop closes the pod's server and its connections.
func (r *memberRuntime) Stop(_ context.Context, pod *corev1.Pod, _ time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := pod.Namespace + "/" + pod.Name
	srv := r.servers[key]
	delete(r.servers, key)
	if srv == nil {
		return nil
	}
	return srv.Close()
}

func serveMember(w http.ResponseWriter, req *http.Request) {
	if req.Header.Get("Upgrade") == "" {
		return
	}
	c, err := websocket.Accept(w, req, nil)
	if err != nil {
		return
	}
	for {
		typ, data, err := c.Read(req.Context())
		if err != nil || c.Write(req.Context(), typ, data) != nil {
			return
		}
	}
}

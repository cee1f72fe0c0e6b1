package source_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coder/websocket"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/gateway"
	"github.com/stablering/stablering/gateway/route"
	"github.com/stablering/stablering/gateway/source"
	"github.com/stablering/stablering/test/controlplane"
)

// This suite runs the gateway on the informer source against a real kube-apiserver: StableRings
// are created and their status written by the test, as the controller would.

func TestInformer(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Gateway informer source suite")
}

var (
	cp *controlplane.ControlPlane
	k  client.Client
)

var _ = BeforeSuite(func(ctx SpecContext) {
	logf.SetLogger(GinkgoLogr)
	if reason := controlplane.SkipReason(); reason != "" {
		Skip(reason)
	}
	var err error
	cp, err = controlplane.Start(ctx, controlplane.Options{CRDPaths: []string{"../../config/crd/bases"}})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(cp.Stop()).To(Succeed()) })
	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(v1alpha1.AddToScheme(scheme)).To(Succeed())
	k, err = client.New(cp.Config, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
}, NodeTimeout(2*time.Minute))

// member is a real backend that names itself in X-Member and accepts WebSockets.
func member(ordinal int) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			for {
				typ, data, err := c.Read(context.Background())
				if err != nil || c.Write(context.Background(), typ, data) != nil {
					return
				}
			}
		}
		w.Header().Set("X-Member", fmt.Sprint(ordinal))
	}))
	DeferCleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// gatewayOn runs a gateway fed by an informer source and returns its proxy and admin URLs.
func gatewayOn(inf *source.Informer) (proxy, admin string) {
	g := gateway.New(gateway.Options{Log: GinkgoLogr, ShutdownWindow: 100 * time.Millisecond})
	proxyLn, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	adminLn, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	served, sourced := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(served)
		_ = g.Serve(ctx, proxyLn, adminLn)
	}()
	go func() {
		defer close(sourced)
		defer GinkgoRecover()
		Expect(inf.Run(ctx, g.Update)).To(Succeed())
	}()
	DeferCleanup(func() {
		cancel()
		<-served
		<-sourced
	})
	return "http://" + proxyLn.Addr().String(), "http://" + adminLn.Addr().String()
}

// createRing creates a StableRing and writes its status: members 0..len(addrs)-1 Serving.
func createRing(ctx context.Context, ns, name string, lbls map[string]string, addrs []string) *v1alpha1.StableRing {
	sr := &v1alpha1.StableRing{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls},
		Spec: v1alpha1.StableRingSpec{
			StatefulSetName: name,
			Port:            intstr.FromInt32(8080),
			Key:             v1alpha1.KeySpec{Source: v1alpha1.KeySourceQuery, Name: "room"},
			Route:           v1alpha1.RouteSpec{Hosts: []string{name + ".example.com"}},
		},
	}
	Expect(k.Create(ctx, sr)).To(Succeed())
	sr.Status.RingVersion = "v1"
	for i, a := range addrs {
		sr.Status.Members = append(sr.Status.Members, v1alpha1.Member{
			Ordinal: int32(i), Address: a, State: v1alpha1.MemberServing,
		})
	}
	Expect(k.Status().Update(ctx, sr)).To(Succeed())
	return sr
}

// send makes a request for room key on ring host and returns the status, member and body.
func send(proxy, host, key string) (int, string, string) {
	req, err := http.NewRequest(http.MethodGet, proxy+"/?room="+key, nil)
	Expect(err).NotTo(HaveOccurred())
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Member"), string(body)
}

// ownedBy returns a key whose owner on sr is ordinal o.
func ownedBy(sr *v1alpha1.StableRing, o int32) string {
	r := route.Build([]v1alpha1.StableRing{*sr}, nil, time.Now()).Ring(sr.Namespace + "/" + sr.Name)
	for i := range 10000 {
		if m := r.Owner(fmt.Sprint("room-", i)); m != nil && m.Ordinal == o {
			return fmt.Sprint("room-", i)
		}
	}
	Fail("no key")
	return ""
}

var _ = Describe("Informer source", func() {
	It("routes by a StableRing's status and swaps when its ringVersion changes", func(ctx SpecContext) {
		addrs := []string{member(0), member(1), member(2)}
		sr := createRing(ctx, "default", "chat", nil, addrs)
		proxy, admin := gatewayOn(&source.Informer{Config: cp.Config, Log: GinkgoLogr})
		Eventually(func() int {
			resp, err := http.Get(admin + "/readyz")
			if err != nil {
				return 0
			}
			_ = resp.Body.Close()
			return resp.StatusCode
		}).Should(Equal(http.StatusOK))

		By("routing every key to its owner")
		for o := range int32(3) {
			code, got, _ := send(proxy, "chat.example.com", ownedBy(sr, o))
			Expect(code).To(Equal(http.StatusOK))
			Expect(got).To(Equal(fmt.Sprint(o)))
		}
		ws, _, err := websocket.Dial(ctx, "ws"+proxy[len("http"):]+"/?room="+ownedBy(sr, 0), &websocket.DialOptions{Host: "chat.example.com"})
		Expect(err).NotTo(HaveOccurred())
		defer func() { _ = ws.CloseNow() }()

		By("holding member 1's rooms once status says it is restarting")
		held := ownedBy(sr, 1)
		sr.Status.Members[1].State = v1alpha1.MemberRestarting
		sr.Status.RingVersion = "v2"
		updated := time.Now()
		Expect(k.Status().Update(ctx, sr)).To(Succeed())
		Eventually(func() string {
			code, _, body := send(proxy, "chat.example.com", held)
			return fmt.Sprint(code, " ", body)
		}).WithPolling(5 * time.Millisecond).Should(HavePrefix("503 stablering: ring default/chat member 1 is restarting (planned)"))
		GinkgoWriter.Printf("ring change routed by the gateway %v after the status update\n", time.Since(updated).Round(time.Millisecond))

		By("keeping the WebSocket of an unaffected room open across the swap")
		Expect(ws.Write(ctx, websocket.MessageText, []byte("still here"))).To(Succeed())
		_, echo, err := ws.Read(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(echo)).To(Equal("still here"))
	}, SpecTimeout(time.Minute))

	It("watches only the namespaces and labels it is given", func(ctx SpecContext) {
		for _, ns := range []string{"team-a", "team-b"} {
			Expect(k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		}
		addrs := []string{member(0)}
		createRing(ctx, "team-a", "public", map[string]string{"exposure": "public"}, addrs)
		createRing(ctx, "team-a", "private", map[string]string{"exposure": "private"}, addrs)
		createRing(ctx, "team-b", "other", map[string]string{"exposure": "public"}, addrs)
		selector, err := labels.Parse("exposure=public")
		Expect(err).NotTo(HaveOccurred())
		proxy, _ := gatewayOn(&source.Informer{Config: cp.Config, Namespaces: []string{"team-a"}, Selector: selector, Log: GinkgoLogr})
		Eventually(func() int {
			code, _, _ := send(proxy, "public.example.com", "a")
			return code
		}).Should(Equal(http.StatusOK))
		for _, host := range []string{"private.example.com", "other.example.com"} {
			code, _, body := send(proxy, host, "a")
			Expect(code).To(Equal(http.StatusNotFound), body)
		}
	}, SpecTimeout(time.Minute))
})

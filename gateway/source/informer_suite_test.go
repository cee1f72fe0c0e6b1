package source_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
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
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/gateway"
	"github.com/stablering/stablering/gateway/resolved"
	"github.com/stablering/stablering/gateway/route"
	"github.com/stablering/stablering/gateway/source"
	"github.com/stablering/stablering/test/controlplane"
)

// This suite runs the gateway on the informer source against a real kube-apiserver: StableRings
// are created, and their MemberSlices and status written, by the test, as the controller would.

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

// createRing creates a StableRing with members 0..len(addrs)-1 Serving, and resolves it at
// version v1.
func createRing(ctx context.Context, ns, name string, lbls map[string]string, addrs []string) *resolved.Ring {
	r := &resolved.Ring{StableRing: &v1alpha1.StableRing{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: lbls},
		Spec: v1alpha1.StableRingSpec{
			StatefulSetName: name,
			Port:            intstr.FromInt32(8080),
			Key:             v1alpha1.KeySpec{Source: v1alpha1.KeySourceQuery, Name: "room"},
			Route:           v1alpha1.RouteSpec{Hosts: []string{name + ".example.com"}},
		},
	}}
	Expect(k.Create(ctx, r.StableRing)).To(Succeed())
	for i, a := range addrs {
		r.Members = append(r.Members, v1alpha1.Member{Ordinal: int32(i), Address: a, State: v1alpha1.MemberServing})
	}
	resolve(ctx, r, "v1")
	return r
}

// resolve writes r's members at version as the controller does: its MemberSlice first, then
// its status naming that slice at version.
func resolve(ctx context.Context, r *resolved.Ring, version string) {
	writeSlice(ctx, r, version)
	writeStatus(ctx, r, version)
}

// writeSlice creates or updates r's MemberSlice (one: tests have fewer members than
// v1alpha1.MembersPerSlice) with r's members at version.
func writeSlice(ctx context.Context, r *resolved.Ring, version string) {
	slice := &v1alpha1.MemberSlice{ObjectMeta: metav1.ObjectMeta{Namespace: r.Namespace, Name: v1alpha1.MemberSliceName(r.Name, 0)}}
	_, err := controllerutil.CreateOrUpdate(ctx, k, slice, func() error {
		slice.Ring, slice.Version, slice.Members = r.Name, version, slices.Clone(r.Members)
		return nil
	})
	Expect(err).NotTo(HaveOccurred())
}

// writeStatus writes r's status at ring version version, naming its MemberSlice at version.
func writeStatus(ctx context.Context, r *resolved.Ring, version string) {
	r.Status.RingVersion = version
	r.Status.MemberSlices = []v1alpha1.MemberSliceRef{{Name: v1alpha1.MemberSliceName(r.Name, 0), Version: version}}
	Expect(k.Status().Update(ctx, r.StableRing)).To(Succeed())
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
func ownedBy(sr *resolved.Ring, o int32) string {
	r := route.Build([]resolved.Ring{*sr}, nil, time.Now()).Ring(sr.Namespace + "/" + sr.Name)
	for i := range 10000 {
		if m := r.Owner(fmt.Sprint("room-", i)); m != nil && m.Ordinal == o {
			return fmt.Sprint("room-", i)
		}
	}
	Fail("no key")
	return ""
}

var _ = Describe("Informer source", func() {
	It("routes by a StableRing's resolved ring and swaps when its ringVersion changes", func(ctx SpecContext) {
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
		sr.Members[1].State = v1alpha1.MemberRestarting
		updated := time.Now()
		resolve(ctx, sr, "v2")
		Eventually(func() string {
			code, _, body := send(proxy, "chat.example.com", held)
			return fmt.Sprint(code, " ", body)
		}).WithPolling(5 * time.Millisecond).Should(HavePrefix("503 stablering: ring default/chat member 1 is restarting (planned)"))
		GinkgoWriter.Printf("ring change routed by the gateway %v after its writes began\n", time.Since(updated).Round(time.Millisecond))

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

	It("publishes a ring only once its MemberSlices are those its status names, and as it last was while they are not", func(ctx SpecContext) {
		Expect(k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "resolutions"}})).To(Succeed())
		r := &resolved.Ring{StableRing: &v1alpha1.StableRing{
			ObjectMeta: metav1.ObjectMeta{Namespace: "resolutions", Name: "chat"},
			Spec: v1alpha1.StableRingSpec{
				StatefulSetName: "chat",
				Port:            intstr.FromInt32(8080),
				Key:             v1alpha1.KeySpec{Source: v1alpha1.KeySourceQuery, Name: "room"},
			},
		}}
		Expect(k.Create(ctx, r.StableRing)).To(Succeed())
		r.Members = []v1alpha1.Member{{Ordinal: 0, Address: "10.0.0.1:8080", State: v1alpha1.MemberServing}}

		By("a status naming a slice that does not exist yet: the ring is left out")
		writeStatus(ctx, r, "v1")
		seen := watchRing(&source.Informer{Config: cp.Config, Namespaces: []string{"resolutions"}, Log: GinkgoLogr}, "resolutions/chat")
		Eventually(seen.last).Should(Equal("absent"))
		Consistently(seen.last).WithTimeout(time.Second).Should(Equal("absent"))

		By("the slice: the ring is published with its members")
		writeSlice(ctx, r, "v1")
		Eventually(seen.last).Should(Equal("v1 [0=Serving]"))

		By("a status ahead of its slice: the ring stays as it last assembled")
		r.Members = append(r.Members, v1alpha1.Member{Ordinal: 1, Address: "10.0.0.2:8080", State: v1alpha1.MemberServing})
		writeStatus(ctx, r, "v2")
		Consistently(seen.last).WithTimeout(time.Second).Should(Equal("v1 [0=Serving]"))
		writeSlice(ctx, r, "v2")
		Eventually(seen.last).Should(Equal("v2 [0=Serving 1=Serving]"))

		By("a slice ahead of its status: the ring stays as it last assembled, and no snapshot is published")
		before := len(seen.all())
		r.Members[1].State = v1alpha1.MemberDraining
		writeSlice(ctx, r, "v3")
		Consistently(seen.last).WithTimeout(time.Second).Should(Equal("v2 [0=Serving 1=Serving]"))
		Expect(seen.all()).To(HaveLen(before), "a snapshot that changes nothing was published")
		writeStatus(ctx, r, "v3")
		Eventually(seen.last).Should(Equal("v3 [0=Serving 1=Draining]"))

		By("never mixing two resolutions")
		Expect(seen.all()).To(HaveEach(BeElementOf("absent", "v1 [0=Serving]", "v2 [0=Serving 1=Serving]", "v3 [0=Serving 1=Draining]")))
	}, SpecTimeout(time.Minute))
})

// ringSeen records how each snapshot an informer source publishes has one ring: "absent", or
// its ring version and its members' states, e.g. "v2 [0=Serving 1=Draining]".
type ringSeen struct {
	mu    sync.Mutex
	snaps []string
}

// watchRing runs inf until the spec ends and records how its snapshots have ring id.
func watchRing(inf *source.Informer, id string) *ringSeen {
	seen := &ringSeen{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer GinkgoRecover()
		Expect(inf.Run(ctx, func(rings []resolved.Ring) { seen.publish(rings, id) })).To(Succeed())
	}()
	DeferCleanup(func() {
		cancel()
		<-done
	})
	return seen
}

// publish records how the snapshot rings has ring id.
func (s *ringSeen) publish(rings []resolved.Ring, id string) {
	got := "absent"
	for _, r := range rings {
		if r.Namespace+"/"+r.Name != id {
			continue
		}
		states := make([]string, 0, len(r.Members))
		for _, m := range r.Members {
			states = append(states, fmt.Sprintf("%d=%s", m.Ordinal, m.State))
		}
		got = fmt.Sprintf("%s %v", r.Status.RingVersion, states)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.snaps = append(s.snaps, got)
}

// last is how the last snapshot had the ring; "" before the first snapshot.
func (s *ringSeen) last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.snaps) == 0 {
		return ""
	}
	return s.snaps[len(s.snaps)-1]
}

// all is how every snapshot had the ring.
func (s *ringSeen) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.snaps)
}

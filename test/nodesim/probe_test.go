package nodesim

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probeServer serves the probe tests: /status/<code> answers code, /host echoes the Host header
// as an error unless it is example.com, and /slow answers once the request is canceled.
func probeServer(t *testing.T) (ip string, port int) {
	mux := http.NewServeMux()
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.PathValue("code"))
		if code == http.StatusFound {
			w.Header().Set("Location", "/status/500")
		}
		w.WriteHeader(code)
	})
	mux.HandleFunc("/host", func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "example.com" || r.Header.Get("X-Probe") != "yes" {
			w.WriteHeader(http.StatusBadRequest)
		}
	})
	mux.HandleFunc("/slow", func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().(*net.TCPAddr)
	return addr.IP.String(), addr.Port
}

// closedPort returns a port of 127.0.0.1 nothing listens on.
func closedPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func httpProbe(path string, port intstr.IntOrString, headers ...corev1.HTTPHeader) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: port, HTTPHeaders: headers}}}
}

func tcpProbe(port intstr.IntOrString) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: port}}}
}

func TestProbes(t *testing.T) {
	ip, port := probeServer(t)
	open, closed := intstr.FromInt(port), intstr.FromInt(closedPort(t))
	c := &corev1.Container{Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(port)}}}
	for name, tc := range map[string]struct {
		probe *corev1.Probe
		err   string // "" for success
	}{
		"HTTP 200":                       {httpProbe("/status/200", open), ""},
		"HTTP 399":                       {httpProbe("/status/399", open), ""},
		"HTTP 302, not followed":         {httpProbe("/status/302", open), ""},
		"HTTP 500":                       {httpProbe("/status/500", open), "HTTP probe failed with status code 500"},
		"HTTP 400":                       {httpProbe("/status/400", open), "HTTP probe failed with status code 400"},
		"HTTP with a named port":         {httpProbe("/status/200", intstr.FromString("http")), ""},
		"HTTP with an unknown port name": {httpProbe("/status/200", intstr.FromString("nope")), `container app has no port named "nope"`},
		"HTTP with headers":              {httpProbe("/host", open, corev1.HTTPHeader{Name: "host", Value: "example.com"}, corev1.HTTPHeader{Name: "X-Probe", Value: "yes"}), ""},
		"HTTP refused":                   {httpProbe("/status/200", closed), "connection refused"},
		"TCP":                            {tcpProbe(open), ""},
		"TCP refused":                    {tcpProbe(closed), "connection refused"},
	} {
		t.Run(name, func(t *testing.T) {
			err := newProber().probe(t.Context(), tc.probe, c, ip)
			if tc.err == "" {
				NewWithT(t).Expect(err).NotTo(HaveOccurred())
			} else {
				NewWithT(t).Expect(err).To(MatchError(ContainSubstring(tc.err)))
			}
		})
	}
}

func TestProbeTimesOutAfterTimeoutSeconds(t *testing.T) {
	g := NewWithT(t)
	ip, port := probeServer(t)
	probe := httpProbe("/slow", intstr.FromInt(port))
	probe.TimeoutSeconds = 1
	start := time.Now()
	err := newProber().probe(t.Context(), probe, &corev1.Container{}, ip)
	g.Expect(err).To(MatchError(ContainSubstring("context deadline exceeded")))
	g.Expect(time.Since(start)).To(BeNumerically("~", time.Second, 500*time.Millisecond))
}

func TestHTTPSProbesSkipCertificateVerification(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().(*net.TCPAddr)
	probe := httpProbe("/", intstr.FromInt(addr.Port))
	probe.HTTPGet.Scheme = corev1.URISchemeHTTPS
	NewWithT(t).Expect(newProber().probe(t.Context(), probe, &corev1.Container{}, addr.IP.String())).To(Succeed())
}

func TestProbeStateAppliesThresholds(t *testing.T) {
	g := NewWithT(t)
	var s probeState
	defaults := &corev1.Probe{}
	g.Expect(s.record(defaults, false)).To(BeFalse(), "starts not ready")
	g.Expect(s.record(defaults, true)).To(BeTrue(), "one success by default")
	g.Expect(s.record(defaults, false)).To(BeTrue())
	g.Expect(s.record(defaults, false)).To(BeTrue())
	g.Expect(s.record(defaults, false)).To(BeFalse(), "three failures in a row by default")

	strict := &corev1.Probe{SuccessThreshold: 2, FailureThreshold: 1}
	g.Expect(s.record(strict, true)).To(BeFalse())
	g.Expect(s.record(strict, true)).To(BeTrue())
	g.Expect(s.record(strict, false)).To(BeFalse())
	g.Expect(s.record(strict, true)).To(BeFalse(), "successes must be in a row")
}

package nodesim

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// prober runs a container's HTTP and TCP readiness probes against its pod's IP, as a kubelet
// does: an HTTP probe succeeds on a status from 200 to 399 (redirects are not followed) and
// HTTPS skips certificate verification; a TCP probe succeeds when it connects. Each probe gets
// its timeoutSeconds (default 1).
type prober struct {
	client *http.Client
}

func newProber() *prober {
	return &prober{client: &http.Client{
		Transport: &http.Transport{
			DisableKeepAlives: true,
			// Kubelets do not verify probed servers' certificates either.
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// probe runs p, an HTTP or TCP probe of container c of the pod with IP ip, and returns why it
// failed, or nil.
func (pr *prober) probe(ctx context.Context, p *corev1.Probe, c *corev1.Container, ip string) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout(p))
	defer cancel()
	if p.HTTPGet != nil {
		return pr.httpGet(ctx, p.HTTPGet, c, ip)
	}
	return tcpSocket(ctx, p.TCPSocket, c, ip)
}

func (pr *prober) httpGet(ctx context.Context, action *corev1.HTTPGetAction, c *corev1.Container, ip string) error {
	req, err := httpProbeRequest(ctx, action, c, ip)
	if err != nil {
		return err
	}
	resp, err := pr.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
	if resp.StatusCode < http.StatusOK || resp.StatusCode >= http.StatusBadRequest {
		return fmt.Errorf("HTTP probe failed with status code %d", resp.StatusCode)
	}
	return nil
}

// httpProbeRequest builds the request of an HTTP probe, with its headers (Host among them).
func httpProbeRequest(ctx context.Context, action *corev1.HTTPGetAction, c *corev1.Container, ip string) (*http.Request, error) {
	port, err := containerPort(action.Port, c)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(action.Path)
	if err != nil {
		return nil, fmt.Errorf("probe path: %w", err)
	}
	u.Scheme = strings.ToLower(string(action.Scheme))
	if u.Scheme == "" {
		u.Scheme = "http"
	}
	u.Host = net.JoinHostPort(probeHost(action.Host, ip), port)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	for _, h := range action.HTTPHeaders {
		if http.CanonicalHeaderKey(h.Name) == "Host" {
			req.Host = h.Value
		} else {
			req.Header.Add(h.Name, h.Value)
		}
	}
	return req, nil
}

func tcpSocket(ctx context.Context, action *corev1.TCPSocketAction, c *corev1.Container, ip string) error {
	port, err := containerPort(action.Port, c)
	if err != nil {
		return err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(probeHost(action.Host, ip), port))
	if err != nil {
		return err
	}
	return conn.Close()
}

// containerPort resolves a probe's port: a number, or the name of a port of container c.
func containerPort(port intstr.IntOrString, c *corev1.Container) (string, error) {
	if port.Type == intstr.Int {
		return strconv.Itoa(port.IntValue()), nil
	}
	for _, p := range c.Ports {
		if p.Name == port.StrVal {
			return strconv.Itoa(int(p.ContainerPort)), nil
		}
	}
	return "", fmt.Errorf("container %s has no port named %q", c.Name, port.StrVal)
}

// probeHost is the host a probe connects to: its own, else the pod's IP.
func probeHost(host, ip string) string {
	if host != "" {
		return host
	}
	return ip
}

func probeTimeout(p *corev1.Probe) time.Duration {
	return time.Duration(orDefault(p.TimeoutSeconds, 1)) * time.Second
}

// probeState tracks the results of a container's readiness probe: it turns ready after
// successThreshold (default 1) successes in a row and not ready after failureThreshold
// (default 3) failures in a row; it starts not ready.
type probeState struct {
	successes, failures int32
	ready               bool
}

// record adds the result of a probe of p and returns whether the container is ready.
func (s *probeState) record(p *corev1.Probe, ok bool) bool {
	if ok {
		s.successes, s.failures = s.successes+1, 0
		s.ready = s.ready || s.successes >= orDefault(p.SuccessThreshold, 1)
	} else {
		s.successes, s.failures = 0, s.failures+1
		s.ready = s.ready && s.failures < orDefault(p.FailureThreshold, 3)
	}
	return s.ready
}

// orDefault returns v, or def if v is not set.
func orDefault(v, def int32) int32 {
	if v <= 0 {
		return def
	}
	return v
}

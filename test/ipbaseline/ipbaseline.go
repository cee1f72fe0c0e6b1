// Package ipbaseline is the comparison router of the demo and the end-to-end suite: it routes
// room keys the way gateways do today, on a consistent-hash ring of pod addresses, so the cost of
// address-keyed hashing during a rollout can be measured in the same run as StableRing.
//
// It behaves like ingress-nginx's upstream-hash-by: the ring holds the Ready pods' ip:port
// endpoints (a terminating or unready pod leaves it, so its keys fail over to the neighbours on
// the ring), the ring is a Ketama point ring with 160 points per endpoint, and established
// connections stay where they are when the ring changes. A pod that comes back with a new IP is a
// new ring member: its keys are taken from whoever held them meanwhile.
//
// Endpoint identities are numbers handed out in order of first sight (the first address seen is
// member 0, the next new one member 1, ...) and hashed as balancer.Ketama members. The points are
// not nginx's byte for byte (nginx hashes the "ip:port" string), but what matters here is the
// same: a new address is a new member with new points.
package ipbaseline

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"

	"github.com/stablering/stablering/balancer"
)

// Router proxies HTTP and WebSocket requests to the pod that owns the request's room key on a
// ring of pod addresses. Update replaces the ring; requests in flight and established
// connections are not touched.
type Router struct {
	keyParam string
	port     int
	proxy    *httputil.ReverseProxy

	mu  sync.Mutex           // serialises Update
	ids map[string]int32     // endpoint address -> member identity, never forgotten
	cur atomic.Pointer[ring] // the ring requests are routed by
}

// ring is an immutable address ring.
type ring struct {
	hash  balancer.Ring
	addrs map[int32]string // member identity -> endpoint address
}

// routeKey carries the chosen endpoint from ServeHTTP to the proxy's Rewrite.
type routeKey struct{}

// New returns a Router that reads the room key from the query parameter keyParam and proxies to
// port on the pods' IPs. Until the first Update every request is answered 503.
func New(keyParam string, port int) *Router {
	r := &Router{keyParam: keyParam, port: port, ids: map[string]int32{}}
	r.cur.Store(&ring{addrs: map[int32]string{}})
	r.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			addr, _ := pr.In.Context().Value(routeKey{}).(string)
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = addr
			pr.SetXForwarded()
		},
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "ipbaseline: upstream: "+err.Error(), http.StatusBadGateway)
		},
	}
	return r
}

// Update rebuilds the ring from pods: every pod that is Ready, not terminating and has an IP is
// an endpoint at podIP:port.
func (r *Router) Update(pods []corev1.Pod) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := &ring{addrs: map[int32]string{}}
	members := make([]int32, 0, len(pods))
	for _, addr := range Endpoints(pods, r.port) {
		id, ok := r.ids[addr]
		if !ok {
			id = int32(len(r.ids))
			r.ids[addr] = id
		}
		next.addrs[id] = addr
		members = append(members, id)
	}
	h, err := balancer.New(balancer.Config{Algorithm: balancer.Ketama, Members: members})
	if err != nil {
		return fmt.Errorf("ipbaseline: building the ring: %w", err)
	}
	next.hash = h
	r.cur.Store(next)
	return nil
}

// Endpoints returns the sorted ip:port endpoints of the pods that are Ready and not terminating.
func Endpoints(pods []corev1.Pod, port int) []string {
	var out []string
	for i := range pods {
		p := &pods[i]
		if p.DeletionTimestamp == nil && p.Status.PodIP != "" && podReady(p) {
			out = append(out, net.JoinHostPort(p.Status.PodIP, strconv.Itoa(port)))
		}
	}
	slices.Sort(out)
	return out
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Owner returns the endpoint address that owns key now, if the ring has any endpoint.
func (r *Router) Owner(key string) (string, bool) {
	cur := r.cur.Load()
	if cur.hash == nil {
		return "", false
	}
	id, ok := cur.hash.Owner(key)
	return cur.addrs[id], ok
}

// ServeHTTP answers 400 without a room key and 503 while the ring is empty; otherwise it proxies
// the request, WebSocket upgrades included, to the key's owner.
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	key := req.URL.Query().Get(r.keyParam)
	if key == "" {
		http.Error(w, fmt.Sprintf("ipbaseline: missing room key: query parameter %q", r.keyParam), http.StatusBadRequest)
		return
	}
	addr, ok := r.Owner(key)
	if !ok {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "ipbaseline: no ready endpoint", http.StatusServiceUnavailable)
		return
	}
	r.proxy.ServeHTTP(w, req.WithContext(context.WithValue(req.Context(), routeKey{}, addr)))
}

// Package convert turns Ingresses that ingress-nginx balanced with upstream-hash-by into
// StableRings, and says for each one it cannot turn, why not. It is pure: it reads the objects it
// is given (Ingresses and the Services, StatefulSets and Deployments behind them) and returns
// rings and findings; reading files or a cluster and printing are the stablering command's.
//
// A converted ring keeps together every pair of requests that ingress-nginx kept together: its
// key is the one nginx variable the annotation hashes, read from the same place (a query
// parameter, header or cookie), or, for the URI variables, the first path segment after the
// Ingress path. What differs is reported as a note; what cannot be expressed as a ring (a key on
// the client address, several variables combined, a backend that is not a StatefulSet, cookie
// affinity, path rewrites, canaries) is refused with the reason.
package convert

import (
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/stablering/stablering/api/v1alpha1"
)

// Annotations of ingress-nginx that the conversion reads, under its default prefix.
const (
	annotationPrefix = "nginx.ingress.kubernetes.io/"
	annHashBy        = annotationPrefix + "upstream-hash-by"
	annSubset        = annotationPrefix + "upstream-hash-by-subset"
	annSubsetSize    = annotationPrefix + "upstream-hash-by-subset-size"
	annAffinity      = annotationPrefix + "affinity"
	annCanary        = annotationPrefix + "canary"
	annRewrite       = annotationPrefix + "rewrite-target"
	annUseRegex      = annotationPrefix + "use-regex"
	annProtocol      = annotationPrefix + "backend-protocol"
	annServiceUp     = annotationPrefix + "service-upstream"
)

// ConvertedFrom is the annotation a converted ring carries: the Ingress it came from.
const ConvertedFrom = "ring.stablering.io/converted-from"

// Inventory is what a conversion reads.
type Inventory struct {
	Ingresses    []networkingv1.Ingress
	Services     []corev1.Service
	StatefulSets []appsv1.StatefulSet
	Deployments  []appsv1.Deployment
	// Complete says the inventory holds every Service, StatefulSet and Deployment of the
	// Ingresses' namespaces, as read from a cluster. When it is false (manifests from files), a
	// missing object is asked for rather than reported as absent.
	Complete bool
}

// Finding is something to tell the user about one Ingress, or one of its paths.
type Finding struct {
	// Ingress is namespace/name.
	Ingress string
	// Where is the host and path the finding is about; empty for the whole Ingress.
	Where string
	// Message says what and why.
	Message string
}

func (f Finding) String() string {
	if f.Where == "" {
		return "ingress " + f.Ingress + ": " + f.Message
	}
	return "ingress " + f.Ingress + " " + f.Where + ": " + f.Message
}

// Result is what a conversion produced.
type Result struct {
	// Rings are the converted StableRings, in the order of the Ingresses and their paths.
	Rings []v1alpha1.StableRing
	// Notes are differences between how ingress-nginx routed and how the rings will.
	Notes []Finding
	// Refused are the Ingresses and paths that were not converted, with why.
	Refused []Finding
}

// Convert converts the Ingresses of inv.
func Convert(inv Inventory) Result {
	var res Result
	for i := range inv.Ingresses {
		convertIngress(&inv, &inv.Ingresses[i], &res)
	}
	return res
}

// ringKey identifies the ring a path converts to; paths with equal keys share a ring, whose
// hosts are the union of theirs.
type ringKey struct {
	statefulSet, pathPrefix string
	port                    intstr.IntOrString
	key                     v1alpha1.KeySpec // without pathSegment, which is segment
	segment                 int32            // key.pathSegment, compared by value
}

// draft is a ring being assembled from the paths of one Ingress.
type draft struct {
	ringKey
	hosts   []string
	anyHost bool
}

func convertIngress(inv *Inventory, ing *networkingv1.Ingress, res *Result) {
	id := ing.Namespace + "/" + ing.Name
	refuse := func(where, format string, args ...any) {
		res.Refused = append(res.Refused, Finding{Ingress: id, Where: where, Message: fmt.Sprintf(format, args...)})
	}
	note := func(where, format string, args ...any) {
		res.Notes = append(res.Notes, Finding{Ingress: id, Where: where, Message: fmt.Sprintf(format, args...)})
	}
	ann := ing.Annotations
	hashBy, ok := ann[annHashBy]
	if !ok {
		refuse("", "no %s annotation: ingress-nginx balanced it without a key, so there is nothing to keep together", annHashBy)
		return
	}
	if reason := ingressRefusal(ann); reason != "" {
		refuse("", "%s", reason)
		return
	}
	k, err := parseKey(hashBy)
	if err != nil {
		refuse("", "%s %q: %v", annHashBy, hashBy, err)
		return
	}
	if k.literal {
		note("", "the text around $%s in %q does not change which requests share a key; the ring reads $%s alone", k.variable, hashBy, k.variable)
	}
	if strings.EqualFold(ann[annSubset], "true") {
		size := ann[annSubsetSize]
		if size == "" {
			size = "3"
		}
		note("", "upstream-hash-by-subset spread each key over a subset of %s pods; the ring sends each key to one pod, so a hot key's load is no longer shared", size)
	}
	if strings.EqualFold(ann[annServiceUp], "true") {
		note("", "service-upstream was true, so nginx sent every request to the Service's cluster IP and the hash had no effect; the ring will key requests that were spread at random")
	}
	useRegex := strings.EqualFold(ann[annUseRegex], "true")

	var drafts []*draft
	add := func(where, host string, path *networkingv1.HTTPIngressPath, backend *networkingv1.IngressBackend) {
		rk, ok := resolvePath(inv, ing.Namespace, k, useRegex, path, backend, func(format string, args ...any) { refuse(where, format, args...) }, func(format string, args ...any) { note(where, format, args...) })
		if !ok {
			return
		}
		i := slices.IndexFunc(drafts, func(d *draft) bool { return d.ringKey == rk })
		if i < 0 {
			drafts = append(drafts, &draft{ringKey: rk})
			i = len(drafts) - 1
		}
		d := drafts[i]
		if host == "" {
			d.anyHost = true
		} else if !slices.Contains(d.hosts, host) {
			d.hosts = append(d.hosts, host)
		}
	}
	if b := ing.Spec.DefaultBackend; b != nil {
		add("default backend", "", nil, b)
	}
	for _, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		for i := range rule.HTTP.Paths {
			p := &rule.HTTP.Paths[i]
			add(where(rule.Host, p.Path), rule.Host, p, &p.Backend)
		}
	}
	for i, d := range drafts {
		name := ing.Name
		if len(drafts) > 1 {
			name = fmt.Sprintf("%s-%d", ing.Name, i+1)
		}
		res.Rings = append(res.Rings, d.ring(ing.Namespace, name, id))
	}
}

// where names a rule's host and path for findings.
func where(host, path string) string {
	if host == "" {
		host = "*"
	}
	return host + path
}

// ingressRefusal returns why annotations other than the hash keep the Ingress from being a
// ring, or "".
func ingressRefusal(ann map[string]string) string {
	switch {
	case strings.EqualFold(ann[annCanary], "true"):
		return "a canary Ingress: its traffic split has no StableRing equivalent; convert the main Ingress and roll out with the StatefulSet"
	case ann[annAffinity] != "":
		return fmt.Sprintf("affinity %q takes precedence over upstream-hash-by in ingress-nginx: requests followed a cookie nginx minted per client, not a key of theirs", ann[annAffinity])
	case ann[annRewrite] != "":
		return "rewrite-target: the gateway proxies paths unchanged, so the pods would see other paths than they do behind ingress-nginx"
	}
	if p := ann[annProtocol]; p != "" && !strings.EqualFold(p, "HTTP") {
		return fmt.Sprintf("backend-protocol %s: the gateway speaks HTTP/1.1 to the pods", p)
	}
	return ""
}

// resolvePath finds the StatefulSet and pod port behind one path's backend and the ring it
// converts to; it reports a refusal (and returns false) or notes through the callbacks.
func resolvePath(inv *Inventory, ns string, k parsedKey, useRegex bool, path *networkingv1.HTTPIngressPath, backend *networkingv1.IngressBackend, refuse, note func(string, ...any)) (ringKey, bool) {
	prefix := "/"
	if path != nil {
		var ok bool
		if prefix, ok = pathPrefix(path, useRegex, refuse, note); !ok {
			return ringKey{}, false
		}
	}
	if backend.Service == nil {
		refuse("the backend is a resource, not a Service: there are no pods to hash onto")
		return ringKey{}, false
	}
	svc := findService(inv, ns, backend.Service.Name)
	if svc == nil {
		refuse("Service %s/%s %s", ns, backend.Service.Name, inv.missing("not found", "is not among the manifests given; pass it with -f"))
		return ringKey{}, false
	}
	if len(svc.Spec.Selector) == 0 {
		refuse("Service %s has no selector (ExternalName, or endpoints kept by hand): no StatefulSet to find from it", svc.Name)
		return ringKey{}, false
	}
	port, ok := podPort(svc, backend.Service.Port)
	if !ok {
		refuse("Service %s has no port %s", svc.Name, servicePortString(backend.Service.Port))
		return ringKey{}, false
	}
	sts, ok := owner(inv, svc, refuse)
	if !ok {
		return ringKey{}, false
	}
	rk := ringKey{statefulSet: sts, port: port, pathPrefix: prefix, key: k.spec}
	if k.spec.Source == v1alpha1.KeySourcePath {
		rk.segment = int32(segments(prefix))
		note("nginx hashed the whole URI; the ring keys on path segment %d, the first after %s, which every request nginx kept together shares (a request without it is refused)", rk.segment, prefix)
	}
	return rk, true
}

// pathPrefix returns the ring's pathPrefix for an Ingress path.
func pathPrefix(p *networkingv1.HTTPIngressPath, useRegex bool, refuse, note func(string, ...any)) (string, bool) {
	path := p.Path
	if useRegex && strings.ContainsAny(path, `^$.*+?()[]{}|\`) {
		refuse("a regular expression path (use-regex): a ring serves a literal path prefix")
		return "", false
	}
	if path == "" {
		path = "/"
	}
	if p.PathType != nil && *p.PathType == networkingv1.PathTypeExact {
		note("an Exact path becomes a prefix: the ring also serves the paths below %s", path)
	}
	if len(path) > 1 {
		path = strings.TrimRight(path, "/")
	}
	return path, true
}

// segments counts the segments of a path prefix: / has none, /rooms one.
func segments(prefix string) int {
	return len(strings.FieldsFunc(prefix, func(r rune) bool { return r == '/' }))
}

func findService(inv *Inventory, ns, name string) *corev1.Service {
	for i := range inv.Services {
		if s := &inv.Services[i]; s.Namespace == ns && s.Name == name {
			return s
		}
	}
	return nil
}

// missing says an object is absent: notFound when the inventory is a cluster's, ask otherwise.
func (inv *Inventory) missing(notFound, ask string) string {
	if inv.Complete {
		return notFound
	}
	return ask
}

// podPort returns the pod port behind the Service port an Ingress backend names: the service
// port's targetPort, a number or a container port name.
func podPort(svc *corev1.Service, want networkingv1.ServiceBackendPort) (intstr.IntOrString, bool) {
	for _, sp := range svc.Spec.Ports {
		if (want.Name != "" && sp.Name == want.Name) || (want.Name == "" && sp.Port == want.Number) {
			if sp.TargetPort.Type == intstr.String && sp.TargetPort.StrVal != "" {
				return sp.TargetPort, true
			}
			if sp.TargetPort.IntVal != 0 {
				return sp.TargetPort, true
			}
			return intstr.FromInt32(sp.Port), true
		}
	}
	return intstr.IntOrString{}, false
}

func servicePortString(p networkingv1.ServiceBackendPort) string {
	if p.Name != "" {
		return p.Name
	}
	return fmt.Sprint(p.Number)
}

// owner returns the StatefulSet whose pods the Service selects, or reports why there is not
// exactly one.
func owner(inv *Inventory, svc *corev1.Service, refuse func(string, ...any)) (string, bool) {
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var sets, deployments []string
	for _, s := range inv.StatefulSets {
		if s.Namespace == svc.Namespace && sel.Matches(labels.Set(s.Spec.Template.Labels)) {
			sets = append(sets, s.Name)
		}
	}
	for _, d := range inv.Deployments {
		if d.Namespace == svc.Namespace && sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			deployments = append(deployments, d.Name)
		}
	}
	switch {
	case len(sets) == 1 && len(deployments) == 0:
		return sets[0], true
	case len(sets) == 0 && len(deployments) > 0:
		refuse("Service %s selects the pods of Deployment %s: ring members are StatefulSet pod ordinals, which a Deployment's pods do not have; run the workload as a StatefulSet first", svc.Name, strings.Join(deployments, ", "))
	case len(sets)+len(deployments) > 1:
		refuse("Service %s selects the pods of several workloads (StatefulSets %v, Deployments %v): a ring is one StatefulSet", svc.Name, sets, deployments)
	default:
		refuse("no StatefulSet's pods match Service %s's selector %s%s", svc.Name, sel, inv.missing("", "; pass the StatefulSet's manifest with -f"))
	}
	return "", false
}

// ring returns the StableRing of d.
func (d *draft) ring(ns, name, ingress string) v1alpha1.StableRing {
	key := d.key
	if key.Source == v1alpha1.KeySourcePath {
		key.PathSegment = &d.segment
	}
	var hosts []string
	if !d.anyHost {
		hosts = slices.Sorted(slices.Values(d.hosts))
	}
	return v1alpha1.StableRing{
		TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "StableRing"},
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   ns,
			Name:        name,
			Annotations: map[string]string{ConvertedFrom: "ingress/" + ingress},
		},
		Spec: v1alpha1.StableRingSpec{
			StatefulSetName: d.statefulSet,
			Port:            d.port,
			Key:             key,
			Route:           v1alpha1.RouteSpec{Hosts: hosts, PathPrefix: d.pathPrefix},
		},
	}
}

// Package route is the gateway's pure routing logic. [Build] turns StableRings (spec, and the
// resolved ring: status and the members of its MemberSlices, as package source assembles them)
// into an immutable [Table]; [Table.Decide] matches a request to a ring by host and longest path
// prefix, reads its room key, and decides what the request gets: proxied to a member, held with
// a Retry-After, or a precise error.
//
// A Table never changes after Build, so one atomic pointer swap moves every request to a new
// ring version at once. Deciding allocates nothing on the common paths and depends only on the
// table, the request, the time and passive health, so every gateway replica answers a key the
// same way for the same ring version.
package route

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/balancer"
	"github.com/stablering/stablering/gateway/resolved"
	"github.com/stablering/stablering/ringhash"
)

// Table routes requests to rings. It is immutable and safe for concurrent use.
type Table struct {
	rings   []*Ring            // sorted by ID; Ring.Index is the position
	byID    map[string]*Ring   // by ID
	exact   map[string][]*Ring // by host, most specific first
	suffix  map[string][]*Ring // by the parent domain of a one-label wildcard, most specific first
	anyHost []*Ring            // rings without hosts, most specific first
}

// Build makes a table from StableRings and their members. prev (nil for none) is the table being
// replaced: a StableRing at the resourceVersion prev was built from keeps its ring as it was
// (its status names the same versions of its MemberSlices, so its members are the same; a change
// of one ring costs in proportion to that ring, not to the table), a ring whose hashing inputs
// did not change keeps its hash ring, and a member that reports no lastTransitionTime keeps the
// time the gateway first saw it in its state; now is used for members seen in a new state for
// the first time. A ring that cannot route (an invalid key, prefix or hash) is kept in the table
// with Err set, so its requests get a precise 503 instead of falling through to another ring.
func Build(rings []resolved.Ring, prev *Table, now time.Time) *Table {
	t := &Table{
		byID:   make(map[string]*Ring, len(rings)),
		exact:  map[string][]*Ring{},
		suffix: map[string][]*Ring{},
	}
	for i := range rings {
		r := reuseOrNewRing(&rings[i], prev.Ring(ringID(rings[i].StableRing)), now)
		if _, dup := t.byID[r.ID]; dup {
			continue
		}
		t.byID[r.ID] = r
		t.rings = append(t.rings, r)
	}
	slices.SortFunc(t.rings, func(a, b *Ring) int { return strings.Compare(a.ID, b.ID) })
	for i, r := range t.rings {
		r.Index = i
		t.index(r)
	}
	for _, list := range t.exact {
		slices.SortStableFunc(list, moreSpecific)
	}
	for _, list := range t.suffix {
		slices.SortStableFunc(list, moreSpecific)
	}
	slices.SortStableFunc(t.anyHost, moreSpecific)
	return t
}

// index adds r to the host indexes.
func (t *Table) index(r *Ring) {
	if len(r.Hosts) == 0 {
		t.anyHost = append(t.anyHost, r)
		return
	}
	for _, h := range r.Hosts {
		if parent, ok := strings.CutPrefix(h, "*."); ok {
			t.suffix[parent] = appendOnce(t.suffix[parent], r)
		} else {
			t.exact[h] = appendOnce(t.exact[h], r)
		}
	}
}

func appendOnce(list []*Ring, r *Ring) []*Ring {
	if slices.Contains(list, r) {
		return list
	}
	return append(list, r)
}

// moreSpecific orders rings by longer path prefix first, then by ID (rings are added in ID
// order and sorted stably, so equal prefixes keep ID order).
func moreSpecific(a, b *Ring) int { return cmp.Compare(len(b.Prefix), len(a.Prefix)) }

// Rings returns the rings, sorted by ID. The slice must not be modified.
func (t *Table) Rings() []*Ring {
	if t == nil {
		return nil
	}
	return t.rings
}

// Ring returns the ring with the ID namespace/name, or nil. A nil table has no rings.
func (t *Table) Ring(id string) *Ring {
	if t == nil {
		return nil
	}
	return t.byID[id]
}

// Match returns the ring that serves host (a request's Host, with or without port) and path,
// or nil. Among the rings whose hosts and prefix match, the longest prefix wins; at equal
// length an exact host beats a wildcard, a wildcard beats a ring without hosts, and then the
// lower ID wins.
func (t *Table) Match(host, path string) *Ring {
	if t == nil {
		return nil
	}
	host = normalizeHost(host)
	best := firstMatch(t.exact[host], path)
	if _, parent, ok := strings.Cut(host, "."); ok {
		best = better(best, firstMatch(t.suffix[parent], path))
	}
	return better(best, firstMatch(t.anyHost, path))
}

// firstMatch returns the first ring of list (most specific first) whose prefix matches path.
func firstMatch(list []*Ring, path string) *Ring {
	for _, r := range list {
		if prefixMatches(r.Prefix, path) {
			return r
		}
	}
	return nil
}

// better returns b if it has a strictly longer prefix than a, else a. Callers pass candidates
// in decreasing host specificity, so ties keep the more specific host.
func better(a, b *Ring) *Ring {
	if a == nil || b != nil && len(b.Prefix) > len(a.Prefix) {
		return b
	}
	return a
}

// prefixMatches reports whether path is prefix or below it on a segment boundary.
func prefixMatches(prefix, path string) bool {
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return prefix == "/" || len(path) == len(prefix) || path[len(prefix)] == '/'
}

// normalizeHost strips the port and a trailing dot from a Host header and lowercases it. It
// allocates only for hosts with upper-case letters.
func normalizeHost(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	host = strings.TrimSuffix(host, ".")
	for i := 0; i < len(host); i++ {
		if 'A' <= host[i] && host[i] <= 'Z' {
			return strings.ToLower(host)
		}
	}
	return host
}

// normalizePrefix validates a pathPrefix and removes a trailing slash ("/chat/" serves the
// same requests as "/chat"); an empty prefix is "/".
func normalizePrefix(p string) (string, error) {
	if p == "" {
		return "/", nil
	}
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("route.pathPrefix %q does not start with '/'", p)
	}
	if trimmed := strings.TrimRight(p, "/"); trimmed != "" {
		return trimmed, nil
	}
	return "/", nil
}

// ringID is the namespace/name of a StableRing.
func ringID(sr *v1alpha1.StableRing) string { return sr.Namespace + "/" + sr.Name }

// hashConfig is the balancer configuration of a StableRing's resolved ring: status.hash
// (spec.hash until the controller has written it), status.ordinalsStart and the joined members.
func hashConfig(in *resolved.Ring) balancer.Config {
	return ringhash.Config(cmp.Or(in.Status.Hash, &in.Spec.Hash), in.Status.OrdinalsStart, in.Members)
}

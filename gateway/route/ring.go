package route

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/balancer"
	"github.com/stablering/stablering/gateway/resolved"
)

// Ring is one StableRing as the gateway routes it: its route and key from spec, and the
// resolved ring (hash from status; members, states and addresses from its MemberSlices).
type Ring struct {
	// ID is namespace/name.
	ID string
	// Namespace and Name are the StableRing's.
	Namespace, Name string
	// Index is the ring's position in Table.Rings.
	Index int
	// Version is status.ringVersion.
	Version string
	// Hosts are the lowercase hosts served (exact names and "*." wildcards); empty is any host.
	Hosts []string
	// Prefix is the path prefix served, without a trailing slash (except "/").
	Prefix string
	// Key says where the room key is read.
	Key Key
	// Policy is what happens to the rooms of a Down member.
	Policy v1alpha1.UnavailablePolicy
	// HoldFor is how long a Down member's rooms are held before they fail over.
	HoldFor time.Duration
	// DrainFor is how long members stay Draining (spec.rollout.drainSeconds).
	DrainFor time.Duration
	// MaxConnectsPerSecond is the admission rate per member; 0 is unlimited.
	MaxConnectsPerSecond int32
	// Resume bounds the WebSockets held open through a planned restart
	// (spec.connections.resume); nil when resume is off.
	Resume *Resume
	// Err says why the ring cannot route; nil when it can.
	Err error

	cfg             balancer.Config
	hash            balancer.Ring
	members         []Member                     // ascending by ordinal
	states          map[v1alpha1.MemberState]int // members by state
	resourceVersion string                       // of the StableRing the ring was built from
	origin          *Ring                        // the ring as newRing built it; Build's reused copies share it
}

// Resume is spec.connections.resume as the gateway applies it.
type Resume struct {
	// MaxBytes bounds the client's bytes held for one connection.
	MaxBytes int
	// MaxHold bounds how long one connection is held.
	MaxHold time.Duration
}

// newResume is spec's resume, nil when off.
func newResume(spec *v1alpha1.ResumeSpec) *Resume {
	if spec == nil {
		return nil
	}
	return &Resume{MaxBytes: int(max(spec.MaxBufferedBytes, 0)), MaxHold: seconds(spec.MaxSeconds)}
}

// Member is one member of a ring.
type Member struct {
	// Ordinal is the pod ordinal.
	Ordinal int32
	// Label is the ordinal in decimal.
	Label string
	// ID is namespace/name/ordinal.
	ID string
	// Index is the member's position in Ring.Members.
	Index int
	// Pod is the member's pod name.
	Pod string
	// Address is podIP:port; empty while the pod has no IP.
	Address string
	// State is the member's state from status.
	State v1alpha1.MemberState
	// Since is when the member entered State: status lastTransitionTime, else when the gateway
	// first saw it in State.
	Since time.Time
}

// Joined reports whether the member is on the hash ring (every state but Pending).
func (m *Member) Joined() bool { return m.State.Joined() }

// reuseOrNewRing returns a copy of prev, which shares its members and hash ring, when in is the
// StableRing object prev was built from (same namespace, name and resourceVersion), else a new
// ring.
func reuseOrNewRing(in *resolved.Ring, prev *Ring, now time.Time) *Ring {
	if prev != nil && in.ResourceVersion != "" && prev.resourceVersion == in.ResourceVersion {
		r := *prev // Index is set by Build; the old table keeps its own
		return &r
	}
	return newRing(in, prev, now)
}

// newRing builds the routing view of in; prev is the same ring in the previous table, or nil.
func newRing(in *resolved.Ring, prev *Ring, now time.Time) *Ring {
	sr := in.StableRing
	r := &Ring{
		ID:                   ringID(sr),
		Namespace:            sr.Namespace,
		Name:                 sr.Name,
		Version:              sr.Status.RingVersion,
		Hosts:                normalizeHosts(sr.Spec.Route.Hosts),
		Policy:               sr.Spec.Unavailable.Policy,
		HoldFor:              seconds(sr.Spec.Unavailable.HoldSeconds),
		DrainFor:             seconds(sr.Spec.Rollout.DrainSeconds),
		MaxConnectsPerSecond: max(sr.Spec.Rollout.MaxConnectsPerSecond, 0),
		Resume:               newResume(sr.Spec.Connections.Resume),
		cfg:                  hashConfig(in),
		resourceVersion:      sr.ResourceVersion,
	}
	r.origin = r
	var errs []error
	switch r.Policy {
	case "":
		r.Policy = v1alpha1.UnavailableHold
	case v1alpha1.UnavailableHold, v1alpha1.UnavailableFailover:
	default:
		errs = append(errs, fmt.Errorf("unavailable.policy %q is not Hold or Failover", r.Policy))
	}
	var err error
	if r.Prefix, err = normalizePrefix(sr.Spec.Route.PathPrefix); err != nil {
		errs = append(errs, err)
	}
	if r.Key, err = newKey(sr.Spec.Key); err != nil {
		errs = append(errs, err)
	}
	if r.members, err = newMembers(r.ID, in, prev, now); err != nil {
		errs = append(errs, err)
	}
	if r.hash, err = r.hashRing(prev); err != nil {
		errs = append(errs, err)
	}
	r.Err = errors.Join(errs...)
	r.states = map[v1alpha1.MemberState]int{}
	for _, m := range r.members {
		r.states[m.State]++
	}
	return r
}

// hashRing reuses prev's hash ring when its inputs are the same, else builds one.
func (r *Ring) hashRing(prev *Ring) (balancer.Ring, error) {
	if prev != nil && prev.hash != nil && prev.cfg.Equal(r.cfg) {
		return prev.hash, nil
	}
	return balancer.New(r.cfg)
}

func seconds(s int32) time.Duration { return time.Duration(max(s, 0)) * time.Second }

func normalizeHosts(hosts []string) []string {
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		out = append(out, normalizeHost(h))
	}
	return out
}

// newMembers converts in's members, sorted by ordinal; ordinals must be unique.
func newMembers(ringID string, in *resolved.Ring, prev *Ring, now time.Time) ([]Member, error) {
	members := make([]Member, 0, len(in.Members))
	for _, sm := range in.Members {
		label := strconv.FormatInt(int64(sm.Ordinal), 10)
		m := Member{
			Ordinal: sm.Ordinal,
			Label:   label,
			ID:      ringID + "/" + label,
			Pod:     in.PodName(sm.Ordinal),
			Address: sm.Address,
			State:   sm.State,
			Since:   since(sm, prev, now),
		}
		members = append(members, m)
	}
	slices.SortStableFunc(members, func(a, b Member) int { return int(a.Ordinal) - int(b.Ordinal) })
	for i := range members {
		members[i].Index = i
		if i > 0 && members[i-1].Ordinal == members[i].Ordinal {
			return nil, fmt.Errorf("member %d is listed more than once", members[i].Ordinal)
		}
	}
	return members, nil
}

// since is when sm entered its state: lastTransitionTime, or when this gateway first saw it
// in that state.
func since(sm v1alpha1.Member, prev *Ring, now time.Time) time.Time {
	if sm.LastTransitionTime != nil {
		return sm.LastTransitionTime.Time
	}
	if pm := prev.Member(sm.Ordinal); pm != nil && pm.State == sm.State {
		return pm.Since
	}
	return now
}

// Reuses reports whether r is prev as Build reused it (the same StableRing object): the same
// members, addresses, states and spec, only Index may differ. False when either is nil.
func (r *Ring) Reuses(prev *Ring) bool {
	return r != nil && prev != nil && r.origin == prev.origin
}

// Members returns the ring's members (every member, joined or not), ascending by
// ordinal. The slice must not be modified.
func (r *Ring) Members() []Member {
	if r == nil {
		return nil
	}
	return r.members
}

// States returns how many members are in each state, counted once when the ring was built (a
// gateway's metrics read them on every scrape). The map must not be modified.
func (r *Ring) States() map[v1alpha1.MemberState]int {
	if r == nil {
		return nil
	}
	return r.states
}

// Member returns the member with ordinal o, or nil.
func (r *Ring) Member(o int32) *Member {
	if r == nil {
		return nil
	}
	i, ok := slices.BinarySearchFunc(r.members, o, func(m Member, o int32) int { return int(m.Ordinal) - int(o) })
	if !ok {
		return nil
	}
	return &r.members[i]
}

// Algorithm is the hashing algorithm the ring routes by.
func (r *Ring) Algorithm() balancer.Algorithm { return r.cfg.Algorithm }

// Owner returns the member that owns key, or nil when the ring has no joined members or
// cannot route.
func (r *Ring) Owner(key string) *Member {
	if r.hash == nil {
		return nil
	}
	o, ok := r.hash.Owner(key)
	if !ok {
		return nil
	}
	return r.Member(o)
}

package route

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
)

// Action is what a request gets.
type Action uint8

// The actions.
const (
	// Proxy: forward the request to Decision.Member.
	Proxy Action = iota
	// Hold: answer 503 with a Retry-After; the room waits for its member.
	Hold
	// NotFound: no ring routes the request (404).
	NotFound
	// BadRequest: the ring's room key is missing, malformed or given more than once (400).
	BadRequest
	// Unavailable: the ring cannot serve the room now (503).
	Unavailable
)

var actionNames = [...]string{
	Proxy:       "proxy",
	Hold:        "hold",
	NotFound:    "not_found",
	BadRequest:  "bad_request",
	Unavailable: "unavailable",
}

// String names the action: proxy, hold, not_found, bad_request or unavailable.
func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "unknown"
}

// Status is the HTTP status code of an answer; 0 for Proxy.
func (a Action) Status() int {
	switch a {
	case Hold, Unavailable:
		return http.StatusServiceUnavailable
	case NotFound:
		return http.StatusNotFound
	case BadRequest:
		return http.StatusBadRequest
	case Proxy:
		return 0
	default:
		// An action this package does not have: a bug, answered as one.
		return http.StatusInternalServerError
	}
}

// Reason says why a decision was taken.
type Reason uint8

// The reasons. Proxy decisions have ReasonOwner or ReasonFailover.
const (
	ReasonOwner Reason = iota
	ReasonFailover
	ReasonDraining
	ReasonRestarting
	ReasonDown
	ReasonUnreachable
	ReasonNoAddress
	ReasonRateLimited
	ReasonNoRoute
	ReasonMissingKey
	ReasonInvalidKey
	ReasonDuplicateKey
	ReasonNoMembers
	ReasonNoUsableMember
	ReasonMisconfigured
	ReasonUnknownState
)

var reasonNames = [...]string{
	ReasonOwner:          "owner",
	ReasonFailover:       "failover",
	ReasonDraining:       "draining",
	ReasonRestarting:     "restarting",
	ReasonDown:           "down",
	ReasonUnreachable:    "unreachable",
	ReasonNoAddress:      "no_address",
	ReasonRateLimited:    "rate_limited",
	ReasonNoRoute:        "no_route",
	ReasonMissingKey:     "missing_key",
	ReasonInvalidKey:     "invalid_key",
	ReasonDuplicateKey:   "duplicate_key",
	ReasonNoMembers:      "no_members",
	ReasonNoUsableMember: "no_usable_member",
	ReasonMisconfigured:  "misconfigured",
	ReasonUnknownState:   "unknown_state",
}

// String is the reason's metrics label, e.g. "draining".
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}

// Base Retry-After of answers whose end the gateway cannot predict.
const (
	restartRetry       = 2 * time.Second
	noAddressRetry     = 2 * time.Second
	noUsableRetry      = 2 * time.Second
	noMembersRetry     = 5 * time.Second
	misconfiguredRetry = 10 * time.Second
	// RateLimitRetry is the base Retry-After of connections refused by admission control.
	RateLimitRetry = time.Second
)

// Decision is what a request gets.
type Decision struct {
	// Action is what the request gets.
	Action Action
	// Reason says why.
	Reason Reason
	// Ring is the matched ring; nil for NotFound.
	Ring *Ring
	// Member is the member proxied to (Proxy) or whose rooms are held (Hold); else nil.
	Member *Member
	// Owner is the key's owner on the ring; nil when there is none.
	Owner *Member
	// Key is the room key.
	Key string
	// RetryAfter is the expected wait of Hold and Unavailable answers, before jitter.
	RetryAfter time.Duration
	// Host and Path are the request's, for NotFound answers.
	Host, Path string
}

// Health is passive health: whether an address recently refused connections.
type Health interface {
	// Unreachable reports whether address is marked unusable at now, and until when.
	Unreachable(address string, now time.Time) (until time.Time, marked bool)
}

// Decide decides what request r gets at now. h may be nil (everything reachable).
func (t *Table) Decide(r Request, now time.Time, h Health) Decision {
	ring := t.Match(r.Host(), r.Path())
	if ring == nil {
		return Decision{Action: NotFound, Reason: ReasonNoRoute, Host: r.Host(), Path: r.Path()}
	}
	if ring.Err != nil {
		return ring.misconfigured()
	}
	key, err := ring.Key.Extract(r)
	switch {
	case err == nil:
		return ring.DecideKey(key, now, h)
	case errors.Is(err, ErrKeyMissing):
		return Decision{Action: BadRequest, Reason: ReasonMissingKey, Ring: ring}
	case errors.Is(err, ErrKeyDuplicate):
		return Decision{Action: BadRequest, Reason: ReasonDuplicateKey, Ring: ring}
	default:
		return Decision{Action: BadRequest, Reason: ReasonInvalidKey, Ring: ring}
	}
}

func (r *Ring) misconfigured() Decision {
	return Decision{Action: Unavailable, Reason: ReasonMisconfigured, Ring: r, RetryAfter: misconfiguredRetry}
}

// DecideKey decides where a request for room key goes at now. h may be nil.
//
//   - The owner is Serving, has an address and is not marked unreachable: Proxy to it.
//   - Draining or Restarting (planned): Hold, whatever the policy.
//   - Down: Hold for HoldFor from Since under the Hold policy, then fail over; fail over at
//     once under Failover.
//   - Serving but marked unreachable by passive health: Hold under Hold (until the mark ends),
//     fail over under Failover.
//   - Serving without an address: Hold.
//
// Failing over proxies to the first member in the key's deterministic failover order that is
// Serving, has an address and is not marked; Unavailable when there is none.
func (r *Ring) DecideKey(key string, now time.Time, h Health) Decision {
	if r.Err != nil {
		return r.misconfigured()
	}
	owner := r.Owner(key)
	if owner == nil {
		return Decision{Action: Unavailable, Reason: ReasonNoMembers, Ring: r, Key: key, RetryAfter: noMembersRetry}
	}
	d := Decision{Ring: r, Owner: owner, Key: key, Member: owner}
	switch owner.State {
	case v1alpha1.MemberDraining:
		return d.hold(ReasonDraining, max(owner.Since.Add(r.DrainFor).Sub(now), 0))
	case v1alpha1.MemberRestarting:
		return d.hold(ReasonRestarting, restartRetry)
	case v1alpha1.MemberDown:
		held := owner.Since.Add(r.HoldFor).Sub(now)
		if r.Policy == v1alpha1.UnavailableHold && held > 0 {
			return d.hold(ReasonDown, held)
		}
		return r.failover(d, now, h)
	case v1alpha1.MemberServing:
	case v1alpha1.MemberPending:
		// Pending members are not on the hash ring, so one is never an owner; hold if it is.
		fallthrough
	default:
		// A state this gateway does not know (a newer controller's): hold, never guess.
		return d.hold(ReasonUnknownState, restartRetry)
	}
	if owner.Address == "" {
		return d.hold(ReasonNoAddress, noAddressRetry)
	}
	if until, marked := unreachable(h, owner.Address, now); marked {
		if r.Policy == v1alpha1.UnavailableHold {
			return d.hold(ReasonUnreachable, until.Sub(now))
		}
		return r.failover(d, now, h)
	}
	d.Action, d.Reason = Proxy, ReasonOwner
	return d
}

func (d Decision) hold(reason Reason, retry time.Duration) Decision {
	d.Action, d.Reason, d.RetryAfter = Hold, reason, retry
	return d
}

// failover proxies d to the first usable member of its key's failover order.
func (r *Ring) failover(d Decision, now time.Time, h Health) Decision {
	o, ok := r.hash.Pick(d.Key, &usable{ring: r, health: h, now: now})
	if !ok {
		d.Action, d.Reason, d.Member, d.RetryAfter = Unavailable, ReasonNoUsableMember, nil, noUsableRetry
		return d
	}
	d.Action, d.Reason, d.Member = Proxy, ReasonFailover, r.Member(o)
	return d
}

// usable is the balancer's view of which members may take rooms now.
type usable struct {
	ring   *Ring
	health Health
	now    time.Time
}

// Usable reports whether member o is Serving, has an address and is not marked unreachable.
func (u *usable) Usable(o int32) bool {
	m := u.ring.Member(o)
	if m == nil || m.State != v1alpha1.MemberServing || m.Address == "" {
		return false
	}
	_, marked := unreachable(u.health, m.Address, u.now)
	return !marked
}

func unreachable(h Health, address string, now time.Time) (time.Time, bool) {
	if h == nil {
		return time.Time{}, false
	}
	return h.Unreachable(address, now)
}

// maxEcho bounds how much of a request's host or path an answer repeats.
const maxEcho = 200

// Message is the body of an answer (everything but Proxy), retryAfter the seconds of its
// Retry-After header. It names the ring, member and reason, and ends with a newline. Every reason
// has its own sentence; a reason this package does not have is named by number.
func (d Decision) Message(retryAfter int) string {
	retry := retrySuffix(retryAfter)
	switch d.Reason {
	case ReasonNoRoute:
		return fmt.Sprintf("stablering: no StableRing routes host %q and path %q\n", echo(d.Host), echo(d.Path))
	case ReasonMissingKey:
		return fmt.Sprintf("stablering: ring %s needs a room key in %s\n", d.Ring.ID, d.Ring.Key.Where())
	case ReasonInvalidKey:
		return fmt.Sprintf("stablering: ring %s cannot decode the room key in %s\n", d.Ring.ID, d.Ring.Key.Where())
	case ReasonDuplicateKey:
		return fmt.Sprintf("stablering: ring %s got the room key in %s more than once\n", d.Ring.ID, d.Ring.Key.Where())
	case ReasonNoMembers:
		return "stablering: ring " + d.Ring.ID + " has no members yet" + retry
	case ReasonNoUsableMember:
		return "stablering: ring " + d.Ring.ID + " has no usable member for this room" + retry
	case ReasonMisconfigured:
		return fmt.Sprintf("stablering: ring %s cannot route: %v%s", d.Ring.ID, d.Ring.Err, retry)
	case ReasonDraining:
		return d.memberPrefix() + " is draining (planned restart)" + retry
	case ReasonRestarting:
		return d.memberPrefix() + " is restarting (planned)" + retry
	case ReasonDown:
		return d.memberPrefix() + " is down (rooms held up to " + d.Ring.HoldFor.String() + ", then failed over)" + retry
	case ReasonUnreachable:
		return d.memberPrefix() + " is unreachable (connection failed)" + retry
	case ReasonNoAddress:
		return d.memberPrefix() + " has no address: its pod does not declare the port spec.port names, or has no IP" +
			" (see the StableRing's Ready condition)" + retry
	case ReasonRateLimited:
		return d.memberPrefix() + " admits at most " + strconv.Itoa(int(d.Ring.MaxConnectsPerSecond)) + " new connections per second" + retry
	case ReasonUnknownState:
		return d.memberPrefix() + " is in state " + strconv.Quote(string(d.Member.State)) + ", which this gateway does not know" + retry
	case ReasonOwner, ReasonFailover:
		// Proxied: the member answers, not the gateway.
		return d.memberPrefix() + " is serving" + retry
	default:
		return "stablering: the gateway cannot serve this request (reason " + strconv.Itoa(int(d.Reason)) + ")" + retry
	}
}

// MemberFailed is the body of an answer for a member that failed after it accepted the
// connection: "stablering: ring ns/name member 2 " and what it did.
func (d Decision) MemberFailed(what string) string { return d.memberPrefix() + " " + what + "\n" }

// LocalFailure is the body of an answer for a request the gateway could not forward to d's member
// for lack of its own resources (descriptors, memory, ports), cause naming which, such as
// EMFILE; retryAfter is the seconds of its Retry-After header. The member is not at fault.
func (d Decision) LocalFailure(cause string, retryAfter int) string {
	return "stablering: the gateway cannot connect to ring " + d.Ring.ID + " member " + d.Member.Label +
		" now: out of local resources (" + cause + ")" + retrySuffix(retryAfter)
}

// retrySuffix ends the body of an answer with a Retry-After header of retryAfter seconds.
func retrySuffix(retryAfter int) string { return "; retry after " + strconv.Itoa(retryAfter) + "s\n" }

func (d Decision) memberPrefix() string {
	return "stablering: ring " + d.Ring.ID + " member " + d.Member.Label
}

func echo(s string) string {
	if len(s) > maxEcho {
		return s[:maxEcho] + "..."
	}
	return s
}

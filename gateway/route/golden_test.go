package route

import (
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/gateway/resolved"
	"github.com/stablering/stablering/internal/golden"
)

// buildCase is the input of a golden Build case, testdata/build/*.in.yaml: StableRings with
// their members, the passive health marks, and requests to decide at now.
type buildCase struct {
	Now   time.Time   `json:"now"`
	Rings []inputRing `json:"rings"`
	// Unreachable marks addresses unusable until a time.
	Unreachable map[string]time.Time `json:"unreachable,omitempty"`
	Requests    []goldenRequest      `json:"requests"`
}

// inputRing is a StableRing of a case, with the members its MemberSlices would hold beside its
// metadata, spec and status.
type inputRing struct {
	v1alpha1.StableRing `json:",inline"`
	Members             []v1alpha1.Member `json:"members"`
}

// goldenRequest is a request: its Host, its target (path and query, as sent) and its header
// lines ("Name: value", in order; a name may repeat).
type goldenRequest struct {
	Host    string   `json:"host,omitempty"`
	Target  string   `json:"target"`
	Headers []string `json:"headers,omitempty"`
}

// buildResult is the table Build makes, and the decision for each request.
type buildResult struct {
	Rings     []goldenRing     `json:"rings"`
	Decisions []goldenDecision `json:"decisions"`
}

type goldenRing struct {
	ID                   string         `json:"id"`
	Version              string         `json:"version,omitempty"`
	Hosts                []string       `json:"hosts,omitempty"`
	Prefix               string         `json:"prefix"`
	Key                  string         `json:"key,omitempty"`
	Algorithm            string         `json:"algorithm"`
	Policy               string         `json:"policy"`
	HoldFor              string         `json:"holdFor"`
	DrainFor             string         `json:"drainFor"`
	MaxConnectsPerSecond int32          `json:"maxConnectsPerSecond,omitempty"`
	Err                  string         `json:"err,omitempty"`
	Members              []goldenMember `json:"members,omitempty"`
}

type goldenMember struct {
	ID      string    `json:"id"`
	Pod     string    `json:"pod"`
	Address string    `json:"address,omitempty"`
	State   string    `json:"state"`
	Joined  bool      `json:"joined"`
	Since   time.Time `json:"since"`
}

type goldenDecision struct {
	Request    string `json:"request"`
	Action     string `json:"action"`
	Reason     string `json:"reason"`
	Status     int    `json:"status,omitempty"`
	Ring       string `json:"ring,omitempty"`
	Key        string `json:"key,omitempty"`
	Owner      string `json:"owner,omitempty"`
	Member     string `json:"member,omitempty"`
	RetryAfter string `json:"retryAfter,omitempty"`
	Message    string `json:"message,omitempty"`
}

// unreachableUntil is passive health from a golden case.
type unreachableUntil map[string]time.Time

func (u unreachableUntil) Unreachable(address string, now time.Time) (time.Time, bool) {
	until, ok := u[address]
	return until, ok && now.Before(until)
}

// TestBuildGolden builds a table from every testdata/build/*.in.yaml, decides its requests, and
// compares both with the .out.yaml beside it (go test -run TestBuildGolden -update writes them
// anew). Between them the cases have every member state (and one the gateway does not know) and
// decide a request for every reason but rate limiting. The messages are those of a Retry-After of the decision's wait rounded up (at least 1s),
// as /debug/lookup shows them.
func TestBuildGolden(t *testing.T) {
	seen := map[Reason]bool{}
	states := map[v1alpha1.MemberState]bool{}
	golden.Run(t, "testdata/build", func(t *testing.T, c *buildCase) any {
		rings := make([]resolved.Ring, len(c.Rings))
		for i := range c.Rings {
			rings[i] = resolved.Ring{StableRing: &c.Rings[i].StableRing, Members: c.Rings[i].Members}
		}
		table := Build(rings, nil, c.Now)
		var out buildResult
		for _, r := range table.Rings() {
			out.Rings = append(out.Rings, goldenRingOf(r))
			for _, m := range r.Members() {
				states[m.State] = true
			}
		}
		for _, req := range c.Requests {
			d := table.Decide(goldenHTTPRequest(t, req), c.Now, unreachableUntil(c.Unreachable))
			seen[d.Reason] = true
			out.Decisions = append(out.Decisions, goldenDecisionOf(req, d))
		}
		return out
	})
	t.Run("coverage", func(t *testing.T) {
		for _, s := range []v1alpha1.MemberState{v1alpha1.MemberPending, v1alpha1.MemberServing, v1alpha1.MemberDraining,
			v1alpha1.MemberRestarting, v1alpha1.MemberDown, "Hibernating"} {
			if !states[s] {
				t.Errorf("no golden case has a member in state %s", s)
			}
		}
		for r := range Reason(len(reasonNames)) {
			// Admission control, not Decide, refuses connections as rate limited.
			if !seen[r] && r != ReasonRateLimited {
				t.Errorf("no golden case decides a request with reason %s", r)
			}
		}
	})
}

func goldenHTTPRequest(t *testing.T, req goldenRequest) Request {
	u, err := url.ParseRequestURI(req.Target)
	if err != nil {
		t.Fatalf("target %q: %v", req.Target, err)
	}
	r := &http.Request{Method: http.MethodGet, Host: req.Host, URL: u, Header: http.Header{}}
	for _, line := range req.Headers {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("header line %q has no ':'", line)
		}
		r.Header.Add(name, strings.TrimSpace(value))
	}
	return HTTPRequest{r}
}

func goldenRingOf(r *Ring) goldenRing {
	g := goldenRing{
		ID: r.ID, Version: r.Version, Hosts: r.Hosts, Prefix: r.Prefix, Key: r.Key.Where(),
		Algorithm: string(r.Algorithm()), Policy: string(r.Policy), HoldFor: r.HoldFor.String(), DrainFor: r.DrainFor.String(),
		MaxConnectsPerSecond: r.MaxConnectsPerSecond,
	}
	if r.Err != nil {
		g.Err = r.Err.Error()
	}
	for _, m := range r.Members() {
		g.Members = append(g.Members, goldenMember{
			ID: m.ID, Pod: m.Pod, Address: m.Address, State: string(m.State), Joined: m.Joined(), Since: m.Since,
		})
	}
	return g
}

func goldenDecisionOf(req goldenRequest, d Decision) goldenDecision {
	g := goldenDecision{
		Request: strings.TrimSpace(req.Host + " " + req.Target + " " + strings.Join(req.Headers, "; ")),
		Action:  d.Action.String(), Reason: d.Reason.String(), Status: d.Action.Status(), Key: d.Key,
	}
	if d.Ring != nil {
		g.Ring = d.Ring.ID
	}
	if d.Owner != nil {
		g.Owner = d.Owner.ID
	}
	if d.Member != nil {
		g.Member = d.Member.ID
	}
	if d.RetryAfter != 0 {
		g.RetryAfter = d.RetryAfter.String()
	}
	if d.Action != Proxy {
		g.Message = d.Message(max(int(math.Ceil(d.RetryAfter.Seconds())), 1))
	}
	return g
}

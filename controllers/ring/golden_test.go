package ring

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/internal/golden"
)

// computeCase is the input of a golden Compute case, testdata/compute/*.in.yaml.
type computeCase struct {
	Now         time.Time            `json:"now"`
	Ring        v1alpha1.StableRing  `json:"ring"`
	Members     []v1alpha1.Member    `json:"members,omitempty"`
	StatefulSet *appsv1.StatefulSet  `json:"statefulSet,omitempty"`
	Pods        []corev1.Pod         `json:"pods,omitempty"`
	Owner       *v1alpha1.StableRing `json:"owner,omitempty"`
}

// computeResult is Compute's Result as a golden file shows it.
type computeResult struct {
	Status       v1alpha1.StableRingStatus `json:"status"`
	Members      []v1alpha1.Member         `json:"members,omitempty"`
	Delete       []goldenPodRef            `json:"delete,omitempty"`
	Events       []goldenEvent             `json:"events,omitempty"`
	RequeueAfter string                    `json:"requeueAfter,omitempty"`
}

type goldenPodRef struct {
	Name            string `json:"name"`
	UID             string `json:"uid"`
	ResourceVersion string `json:"resourceVersion"`
}

type goldenEvent struct {
	Type    string `json:"type"`
	Reason  string `json:"reason"`
	Action  string `json:"action"`
	Message string `json:"message"`
}

// TestComputeGolden runs Compute on every testdata/compute/*.in.yaml and compares the result
// with the .out.yaml beside it (go test -run TestComputeGolden -update writes them anew). Each
// case is computed twice, the second time from the status of the first, as the controller does
// after writing it: that second pass must change nothing, emit nothing and delete no other pods
// (a pod still there is deleted again: its deletion may have failed).
func TestComputeGolden(t *testing.T) {
	var results []computeResult
	golden.Run(t, "testdata/compute", func(t *testing.T, c *computeCase) any {
		in := Input{Ring: &c.Ring, Members: c.Members, StatefulSet: c.StatefulSet, Pods: c.Pods, Owner: c.Owner, Now: c.Now}
		res := Compute(in)
		again := c.Ring.DeepCopy()
		again.Status = res.Status
		in.Ring, in.Members = again, res.Members
		if next := Compute(in); !equality.Semantic.DeepEqual(next.Status, res.Status) || !equality.Semantic.DeepEqual(next.Slices, res.Slices) ||
			len(next.Events) > 0 || !slices.Equal(next.Delete, res.Delete) {
			t.Errorf("computing again from the status written changes it, emits %v or deletes other pods %v:\n%s", next.Events, next.Delete,
				cmp.Diff(res.Status, next.Status))
		}
		out := computeResult{Status: res.Status, Members: res.Members}
		for _, d := range res.Delete {
			out.Delete = append(out.Delete, goldenPodRef{Name: d.Name, UID: string(d.UID), ResourceVersion: d.ResourceVersion})
		}
		for _, e := range res.Events {
			out.Events = append(out.Events, goldenEvent(e))
		}
		if res.RequeueAfter != 0 {
			out.RequeueAfter = res.RequeueAfter.String()
		}
		results = append(results, out)
		return out
	})
	t.Run("coverage", func(t *testing.T) {
		seen := map[string]bool{}
		for _, r := range results {
			for _, m := range r.Members {
				seen["state "+string(m.State)] = true
			}
			if r.Status.Rollout != nil {
				seen["phase "+string(r.Status.Rollout.Phase)] = true
				seen["step "+string(r.Status.Rollout.Step)] = true
			}
			for _, c := range r.Status.Conditions {
				seen["condition "+c.Type+" "+c.Reason] = true
			}
			for _, e := range r.Events {
				seen["event "+e.Reason] = true
			}
		}
		var missing []string
		for _, want := range goldenCoverage {
			if !seen[want] {
				missing = append(missing, want)
			}
		}
		if len(missing) > 0 {
			t.Errorf("no golden case shows %v", missing)
		}
	})
}

// TestReasonsAreDocumented checks that the user guide names every condition reason and event
// the golden cases must show, so that a new one cannot ship unexplained.
func TestReasonsAreDocumented(t *testing.T) {
	guide, err := os.ReadFile(filepath.Join("..", "..", "docs", "user-guide.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range goldenCoverage {
		kind, _, _ := strings.Cut(c, " ")
		if kind != "condition" && kind != "event" {
			continue
		}
		reason := c[strings.LastIndexByte(c, ' ')+1:]
		if !strings.Contains(string(guide), "`"+reason+"`") {
			t.Errorf("docs/user-guide.md does not name %s `%s`", kind, reason)
		}
	}
}

// goldenCoverage is what the golden cases must show between them: every member state, rollout
// phase and batch step, every condition reason, and every event.
var goldenCoverage = slices.Concat(
	prefixed("state ", v1alpha1.MemberPending, v1alpha1.MemberServing, v1alpha1.MemberDraining, v1alpha1.MemberRestarting, v1alpha1.MemberDown),
	prefixed("phase ", v1alpha1.RolloutComplete, v1alpha1.RolloutProgressing, v1alpha1.RolloutPaused, v1alpha1.RolloutStalled, v1alpha1.RolloutDisabled),
	prefixed("step ", v1alpha1.BatchDraining, v1alpha1.BatchRestarting, v1alpha1.BatchSettling),
	prefixed("condition Ready ", ReasonAllMembersServing, ReasonMembersNotServing, ReasonNoMembers, ReasonStatefulSetNotFound,
		ReasonPortNotFound, ReasonMembersUnroutable),
	prefixed("condition Progressing ", ReasonStatefulSetNotFound, ReasonWaitingForStatefulSet, ReasonRollingUpdateStrategy,
		ReasonBatchProgressing, ReasonWaitingForMembers, ReasonRolloutComplete, ReasonRolloutPaused, ReasonProgressDeadlineExceeded,
		ReasonRolloutOwnedElsewhere, ReasonUnknownRolloutPhase),
	prefixed("condition Degraded ", ReasonAsExpected, ReasonStatefulSetNotFound, ReasonProgressDeadlineExceeded, ReasonMembersDown,
		ReasonPortNotFound, ReasonRollingUpdateStrategy, ReasonOrderedReadyPodManagement),
	prefixed("event ", "MemberJoined", "MemberDown", "MemberLeft", ReasonStatefulSetNotFound, ReasonRolloutOwnedElsewhere,
		"BatchStarted", "BatchCompleted", "RolloutCompleted", "RolloutStalled", "RolloutResumed", "UnknownBatchStep"),
)

func prefixed[S ~string](prefix string, values ...S) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = prefix + string(v)
	}
	return out
}

package ring

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/stablering/stablering/api/v1alpha1"
)

// s0 is where a step entered at t0 starts its clock: t0 rounded up to a whole second.
var s0 = stepStart(t0)

func planInput(ms []observed, prev *v1alpha1.RolloutStatus, now time.Time) rolloutInput {
	return rolloutInput{
		spec: rolloutSpec(intstr.FromInt32(2)), replicas: int32(len(ms)), onDelete: true, synced: true,
		currentRevision: oldRev, updateRevision: newRev, members: ms, prev: prev, now: now,
	}
}

// batch is a rollout status with batch n of members at step, which started at start.
func batch(n int32, step v1alpha1.BatchStep, start time.Time, ordinals ...int32) *v1alpha1.RolloutStatus {
	return &v1alpha1.RolloutStatus{
		Phase: v1alpha1.RolloutProgressing, CurrentRevision: oldRev, UpdateRevision: newRev,
		Batch: n, BatchMembers: ordinals, Step: step, BatchStartTime: mtime(start), StepStartTime: mtime(start),
	}
}

// deletedAt records the pods of ordinals at rev as deleted by the controller.
func deletedAt(st *v1alpha1.RolloutStatus, rev string, ordinals ...int32) *v1alpha1.RolloutStatus {
	for _, o := range ordinals {
		st.DeletedPods = append(st.DeletedPods, v1alpha1.DeletedPod{Ordinal: o, UID: string(uid(o, rev))})
	}
	return st
}

func stepAt(st *v1alpha1.RolloutStatus, t time.Time) *v1alpha1.RolloutStatus {
	st.StepStartTime = mtime(t)
	return st
}

func phase(p v1alpha1.RolloutPhase, batchNumber int32) *v1alpha1.RolloutStatus {
	return &v1alpha1.RolloutStatus{Phase: p, CurrentRevision: oldRev, UpdateRevision: newRev, Batch: batchNumber}
}

func stalled(st *v1alpha1.RolloutStatus) *v1alpha1.RolloutStatus {
	st.Phase = v1alpha1.RolloutStalled
	return st
}

func podRefs(rev string, ordinals ...int32) []PodRef {
	var refs []PodRef
	for _, o := range ordinals {
		m := member(o, rev, true)
		refs = append(refs, PodRef{Name: m.podName, UID: m.uid, ResourceVersion: m.resourceVersion})
	}
	return refs
}

type planWant struct {
	status         *v1alpha1.RolloutStatus
	delete         []PodRef
	wake           time.Time
	events         []string
	next, blockers []int32
}

func TestPlanRollout(t *testing.T) {
	drainEnd := s0.Add(10*time.Second + PublishLead)
	restartedAt := stepStart(drainEnd)
	six := members(6, oldRev)
	// The first batch's pods, deleted and recreated at the update revision.
	batch1Back := with(six, member(5, newRev, true), member(4, newRev, true))
	tests := []struct {
		name string
		in   rolloutInput
		want planWant
	}{{
		name: "RollingUpdate disables pacing and forgets any batch",
		in: func() rolloutInput {
			in := planInput(six, batch(1, v1alpha1.BatchDraining, s0, 5, 4), t0)
			in.onDelete = false
			return in
		}(),
		want: planWant{status: &v1alpha1.RolloutStatus{Phase: v1alpha1.RolloutDisabled, CurrentRevision: oldRev, UpdateRevision: newRev}},
	}, {
		name: "a StatefulSet not yet synced keeps the previous status and deletes nothing",
		in: func() rolloutInput {
			in := planInput(six, batch(1, v1alpha1.BatchDraining, s0.Add(-time.Hour), 5, 4), t0)
			in.synced = false
			return in
		}(),
		want: planWant{status: batch(1, v1alpha1.BatchDraining, s0.Add(-time.Hour), 5, 4)},
	}, {
		name: "a spec change lifts a stall even before the StatefulSet is synced",
		in: func() rolloutInput {
			in := planInput(six, stalled(stepAt(batch(1, v1alpha1.BatchRestarting, s0.Add(-time.Hour), 5, 4), s0.Add(-time.Hour))), t0)
			in.synced, in.changed = false, true
			return in
		}(),
		want: planWant{status: stepAt(batch(1, v1alpha1.BatchRestarting, s0.Add(-time.Hour), 5, 4), s0), events: []string{"RolloutResumed"}},
	}, {
		name: "every member at the update revision is Complete, without an event on first sight",
		in:   planInput(members(6, newRev), nil, t0),
		want: planWant{status: phase(v1alpha1.RolloutComplete, 0)},
	}, {
		name: "outdated members start batch 1 with the highest ordinals, Draining",
		in:   planInput(six, phase(v1alpha1.RolloutComplete, 0), t0),
		want: planWant{status: batch(1, v1alpha1.BatchDraining, s0, 5, 4), wake: drainEnd, events: []string{"BatchStarted"}},
	}, {
		name: "the batch drains until stepStartTime + drainSeconds + PublishLead",
		in:   planInput(six, batch(1, v1alpha1.BatchDraining, s0, 5, 4), drainEnd.Add(-time.Millisecond)),
		want: planWant{status: batch(1, v1alpha1.BatchDraining, s0, 5, 4), wake: drainEnd},
	}, {
		name: "after the drain the batch's UIDs are recorded and its pods deleted",
		in:   planInput(six, batch(1, v1alpha1.BatchDraining, s0, 5, 4), drainEnd),
		want: planWant{
			status: deletedAt(stepAt(batch(1, v1alpha1.BatchRestarting, s0, 5, 4), drainEnd), oldRev, 5, 4),
			delete: podRefs(oldRev, 5, 4), wake: drainEnd.Add(60 * time.Second),
		},
	}, {
		name: "a recorded pod that is still live is deleted again, and recorded once",
		in: planInput(six, deletedAt(stepAt(batch(1, v1alpha1.BatchRestarting, s0, 5, 4), restartedAt), oldRev, 5, 4),
			restartedAt.Add(time.Second)),
		want: planWant{
			status: deletedAt(stepAt(batch(1, v1alpha1.BatchRestarting, s0, 5, 4), restartedAt), oldRev, 5, 4),
			delete: podRefs(oldRev, 5, 4), wake: restartedAt.Add(60 * time.Second),
		},
	}, {
		name: "terminating, missing and recreated-but-not-Ready pods are waited for, not deleted",
		in: planInput(with(six, terminating(member(5, oldRev, true)), missing(4)),
			deletedAt(stepAt(batch(1, v1alpha1.BatchRestarting, s0, 5, 4), restartedAt), oldRev, 5, 4), restartedAt.Add(time.Second)),
		want: planWant{
			status: deletedAt(stepAt(batch(1, v1alpha1.BatchRestarting, s0, 5, 4), restartedAt), oldRev, 5, 4),
			wake:   restartedAt.Add(60 * time.Second),
		},
	}, {
		name: "a replacement pod that is not Ready yet is waited for",
		in: planInput(with(six, member(5, newRev, false), member(4, newRev, true)),
			deletedAt(stepAt(batch(1, v1alpha1.BatchRestarting, s0, 5, 4), restartedAt), oldRev, 5, 4), restartedAt.Add(time.Second)),
		want: planWant{
			status: deletedAt(stepAt(batch(1, v1alpha1.BatchRestarting, s0, 5, 4), restartedAt), oldRev, 5, 4),
			wake:   restartedAt.Add(60 * time.Second),
		},
	}, {
		name: "a Ready batch with pauseSeconds 0 completes and the next batch starts at once",
		in: planInput(batch1Back, deletedAt(stepAt(batch(1, v1alpha1.BatchRestarting, s0, 5, 4), restartedAt), oldRev, 5, 4),
			restartedAt.Add(5*time.Second)),
		want: planWant{
			status: batch(2, v1alpha1.BatchDraining, restartedAt.Add(5*time.Second), 3, 2),
			wake:   restartedAt.Add(15*time.Second + PublishLead), events: []string{"BatchCompleted", "BatchStarted"},
		},
	}, {
		name: "a Ready batch settles for pauseSeconds",
		in: func() rolloutInput {
			in := planInput(batch1Back, deletedAt(stepAt(batch(1, v1alpha1.BatchRestarting, s0, 5, 4), restartedAt), oldRev, 5, 4),
				restartedAt.Add(5*time.Second))
			in.spec.PauseSeconds = 30
			return in
		}(),
		want: planWant{
			status: deletedAt(stepAt(batch(1, v1alpha1.BatchSettling, s0, 5, 4), restartedAt.Add(5*time.Second)), oldRev, 5, 4),
			wake:   restartedAt.Add(35 * time.Second), events: []string{"BatchCompleted"},
		},
	}, {
		name: "after settling the next batch starts",
		in: func() rolloutInput {
			in := planInput(batch1Back, stepAt(batch(1, v1alpha1.BatchSettling, s0, 5, 4), restartedAt), restartedAt.Add(30*time.Second))
			in.spec.PauseSeconds = 30
			return in
		}(),
		want: planWant{
			status: batch(2, v1alpha1.BatchDraining, restartedAt.Add(30*time.Second), 3, 2),
			wake:   restartedAt.Add(40*time.Second + PublishLead), events: []string{"BatchStarted"},
		},
	}, {
		name: "the last batch completes the rollout",
		in: planInput(members(6, newRev), stepAt(batch(3, v1alpha1.BatchSettling, s0, 1, 0), restartedAt),
			restartedAt.Add(time.Second)),
		want: planWant{status: phase(v1alpha1.RolloutComplete, 3), events: []string{"RolloutCompleted"}},
	}, {
		name: "a batch not Ready by the progress deadline stalls and deletes nothing",
		in: planInput(with(six, member(5, newRev, false), member(4, oldRev, true)),
			deletedAt(stepAt(batch(1, v1alpha1.BatchRestarting, s0, 5, 4), restartedAt), oldRev, 5), restartedAt.Add(60*time.Second)),
		want: planWant{
			status: stalled(deletedAt(stepAt(batch(1, v1alpha1.BatchRestarting, s0, 5, 4), restartedAt), oldRev, 5)),
			events: []string{"RolloutStalled"},
		},
	}, {
		name: "a stalled rollout stays stalled while nothing changes",
		in: planInput(with(six, member(5, newRev, true), member(4, oldRev, true)),
			stalled(deletedAt(stepAt(batch(1, v1alpha1.BatchRestarting, s0, 5, 4), restartedAt), oldRev, 5)), restartedAt.Add(time.Hour)),
		want: planWant{status: stalled(deletedAt(stepAt(batch(1, v1alpha1.BatchRestarting, s0, 5, 4), restartedAt), oldRev, 5))},
	}, {
		name: "a spec or scale change lifts a stall with a fresh deadline",
		in: func() rolloutInput {
			in := planInput(with(six, member(5, newRev, false), member(4, oldRev, true)),
				stalled(deletedAt(stepAt(batch(1, v1alpha1.BatchRestarting, s0, 5, 4), restartedAt), oldRev, 5)), t0.Add(time.Hour))
			in.changed = true
			return in
		}(),
		want: planWant{
			status: deletedAt(stepAt(batch(1, v1alpha1.BatchRestarting, s0, 5, 4), s0.Add(time.Hour)), oldRev, 5, 4),
			delete: podRefs(oldRev, 4), wake: s0.Add(time.Hour + 60*time.Second), events: []string{"RolloutResumed"},
		},
	}, {
		name: "a new revision lifts a stall and restarts the plan: the batch carries on as batch 1",
		in: func() rolloutInput {
			prev := stalled(deletedAt(stepAt(batch(2, v1alpha1.BatchRestarting, s0, 3, 2), restartedAt), oldRev, 3, 2))
			prev.UpdateRevision = "chat-bad"
			in := planInput(with(members(6, newRev), member(3, "chat-bad", false), member(2, "chat-bad", false), member(1, oldRev, true), member(0, oldRev, true)),
				prev, t0.Add(time.Hour))
			return in
		}(),
		want: planWant{
			status: deletedAt(deletedAt(stepAt(batch(1, v1alpha1.BatchRestarting, s0, 3, 2), s0.Add(time.Hour)), oldRev, 3, 2), "chat-bad", 3, 2),
			delete: podRefs("chat-bad", 3, 2), wake: s0.Add(time.Hour + 60*time.Second), events: []string{"RolloutResumed"},
		},
	}, {
		name: "a new revision while Draining keeps draining the batch",
		in: func() rolloutInput {
			prev := batch(2, v1alpha1.BatchDraining, s0, 3, 2)
			prev.UpdateRevision = "chat-older"
			return planInput(six, prev, t0.Add(time.Second))
		}(),
		want: planWant{status: batch(1, v1alpha1.BatchDraining, s0, 3, 2), wake: drainEnd},
	}, {
		name: "a new revision without a batch in flight starts over at batch 1",
		in: func() rolloutInput {
			prev := phase(v1alpha1.RolloutComplete, 3)
			prev.UpdateRevision = oldRev
			return planInput(six, prev, t0)
		}(),
		want: planWant{status: batch(1, v1alpha1.BatchDraining, s0, 5, 4), wake: drainEnd, events: []string{"BatchStarted"}},
	}, {
		name: "paused does not start a batch",
		in: func() rolloutInput {
			in := planInput(batch1Back, phase(v1alpha1.RolloutProgressing, 1), t0)
			in.spec.Paused = true
			return in
		}(),
		want: planWant{status: phase(v1alpha1.RolloutPaused, 1)},
	}, {
		name: "paused lets the current batch finish",
		in: func() rolloutInput {
			in := planInput(six, batch(1, v1alpha1.BatchDraining, s0, 5, 4), drainEnd)
			in.spec.Paused = true
			return in
		}(),
		want: planWant{
			status: deletedAt(stepAt(batch(1, v1alpha1.BatchRestarting, s0, 5, 4), drainEnd), oldRev, 5, 4),
			delete: podRefs(oldRev, 5, 4), wake: drainEnd.Add(60 * time.Second),
		},
	}, {
		name: "paused stops after the batch",
		in: func() rolloutInput {
			in := planInput(batch1Back, stepAt(batch(1, v1alpha1.BatchSettling, s0, 5, 4), restartedAt), restartedAt)
			in.spec.Paused = true
			return in
		}(),
		want: planWant{status: phase(v1alpha1.RolloutPaused, 1)},
	}, {
		name: "paused with nothing outdated is Complete",
		in: func() rolloutInput {
			in := planInput(members(6, newRev), phase(v1alpha1.RolloutPaused, 1), t0)
			in.spec.Paused = true
			return in
		}(),
		want: planWant{status: phase(v1alpha1.RolloutComplete, 1), events: []string{"RolloutCompleted"}},
	}, {
		name: "no batch starts while a member outside it is not Serving",
		in:   planInput(with(six, member(1, oldRev, false), missing(2)), phase(v1alpha1.RolloutComplete, 0), t0),
		want: planWant{status: phase(v1alpha1.RolloutProgressing, 0), next: []int32{5, 4}, blockers: []int32{1, 2}},
	}, {
		name: "members not Ready inside the batch do not block it",
		in:   planInput(with(six, member(5, oldRev, false)), phase(v1alpha1.RolloutComplete, 0), t0),
		want: planWant{status: batch(1, v1alpha1.BatchDraining, s0, 5, 4), wake: drainEnd, events: []string{"BatchStarted"}},
	}, {
		name: "a percentage batch size is rounded down",
		in: func() rolloutInput {
			in := planInput(six, nil, t0)
			in.spec.BatchSize = ptrIntOrString(intstr.FromString("50%"))
			return in
		}(),
		want: planWant{status: batch(1, v1alpha1.BatchDraining, s0, 5, 4, 3), wake: drainEnd, events: []string{"BatchStarted"}},
	}, {
		name: "a batch larger than the outdated members takes them all",
		in: func() rolloutInput {
			in := planInput(with(members(6, newRev), member(0, oldRev, true)), nil, t0)
			in.spec.BatchSize = ptrIntOrString(intstr.FromInt32(4))
			return in
		}(),
		want: planWant{status: batch(1, v1alpha1.BatchDraining, s0, 0), wake: drainEnd, events: []string{"BatchStarted"}},
	}, {
		name: "batch members scaled away leave the batch",
		in: planInput(members(4, oldRev), deletedAt(stepAt(batch(1, v1alpha1.BatchRestarting, s0, 5, 4), restartedAt), oldRev, 5, 4),
			restartedAt.Add(time.Second)),
		want: planWant{status: batch(2, v1alpha1.BatchDraining, restartedAt.Add(time.Second), 3, 2),
			wake: restartedAt.Add(11*time.Second + PublishLead), events: []string{"BatchStarted"}},
	}, {
		name: "a batch whose step was lost drains again",
		in: func() rolloutInput {
			prev := batch(1, "", s0, 5, 4)
			prev.StepStartTime = nil
			return planInput(six, prev, t0)
		}(),
		want: planWant{status: batch(1, v1alpha1.BatchDraining, s0, 5, 4), wake: drainEnd, events: []string{"UnknownBatchStep"}},
	}, {
		name: "a step without a start time starts its clock now",
		in: func() rolloutInput {
			prev := batch(1, v1alpha1.BatchSettling, s0, 5, 4)
			prev.StepStartTime = nil
			in := planInput(batch1Back, prev, t0)
			in.spec.PauseSeconds = 5
			return in
		}(),
		want: planWant{status: batch(1, v1alpha1.BatchSettling, s0, 5, 4), wake: s0.Add(5 * time.Second)},
	}, {
		name: "turning RollingUpdate into OnDelete starts clean",
		in:   planInput(six, &v1alpha1.RolloutStatus{Phase: v1alpha1.RolloutDisabled, CurrentRevision: oldRev, UpdateRevision: newRev}, t0),
		want: planWant{status: batch(1, v1alpha1.BatchDraining, s0, 5, 4), wake: drainEnd, events: []string{"BatchStarted"}},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := planRollout(tc.in)
			var reasons []string
			for _, e := range got.events {
				reasons = append(reasons, e.Reason)
			}
			if diff := cmp.Diff(tc.want.status, got.status); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want.delete, got.delete); diff != "" {
				t.Errorf("delete (-want +got):\n%s", diff)
			}
			if !tc.want.wake.Equal(got.wake) {
				t.Errorf("wake = %v, want %v", got.wake, tc.want.wake)
			}
			if diff := cmp.Diff(tc.want.events, reasons); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want.next, got.next); diff != "" {
				t.Errorf("next (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want.blockers, got.blockers); diff != "" {
				t.Errorf("blockers (-want +got):\n%s", diff)
			}
		})
	}
}

func ptrIntOrString(v intstr.IntOrString) *intstr.IntOrString { return &v }

// TestPlanRolloutNeverDeletesAPodTwice replays a whole rollout through the planner, with the
// pods answering as a StatefulSet controller would, and checks every pod is deleted exactly once,
// never more than batchSize members are down, and batches go highest ordinal first. Each step is
// planned twice, as a controller restarted from the same status would.
func TestPlanRolloutNeverDeletesAPodTwice(t *testing.T) {
	ms := members(6, oldRev)
	var st *v1alpha1.RolloutStatus
	now := t0
	deletions := map[types.UID]int{}
	var batches [][]int32
	for step := 0; step < 200 && (st == nil || st.Phase != v1alpha1.RolloutComplete); step++ {
		in := planInput(ms, st, now)
		plan := planRollout(in)
		if again := planRollout(in); !cmp.Equal(plan.status, again.status) || !cmp.Equal(plan.delete, again.delete) {
			t.Fatalf("planning the same input twice differs")
		}
		st = plan.status
		if len(st.BatchMembers) > 0 && (len(batches) == 0 || !cmp.Equal(batches[len(batches)-1], st.BatchMembers)) {
			batches = append(batches, append([]int32(nil), st.BatchMembers...))
		}
		for _, d := range plan.delete {
			deletions[d.UID]++
			for i := range ms {
				if ms[i].uid == d.UID {
					ms[i] = terminating(ms[i])
				}
			}
		}
		down := 0
		for _, m := range ms {
			if !m.ready {
				down++
			}
		}
		if down > 2 {
			t.Fatalf("%d members down at once", down)
		}
		// The StatefulSet controller: terminating pods go, missing pods come back at the update
		// revision, not Ready first.
		for i, m := range ms {
			switch {
			case m.terminating:
				ms[i] = missing(m.ordinal)
			case !m.exists:
				ms[i] = member(m.ordinal, newRev, false)
			case !m.ready:
				ms[i].ready = true
			}
		}
		now = now.Add(time.Second)
	}
	if st.Phase != v1alpha1.RolloutComplete {
		t.Fatalf("rollout did not complete: %+v", st)
	}
	if len(deletions) != 6 {
		t.Errorf("deleted %d pods, want 6", len(deletions))
	}
	for u, n := range deletions {
		if n != 1 {
			t.Errorf("pod %s deleted %d times", u, n)
		}
	}
	if want := [][]int32{{5, 4}, {3, 2}, {1, 0}}; !cmp.Equal(batches, want) {
		t.Errorf("batches = %v, want %v", batches, want)
	}
}

func TestBatchSize(t *testing.T) {
	for _, tc := range []struct {
		size     *intstr.IntOrString
		replicas int32
		want     int
	}{
		{nil, 6, 1},
		{ptrIntOrString(intstr.FromInt32(2)), 6, 2},
		{ptrIntOrString(intstr.FromInt32(0)), 6, 1},
		{ptrIntOrString(intstr.FromString("25%")), 6, 1},
		{ptrIntOrString(intstr.FromString("50%")), 7, 3},
		{ptrIntOrString(intstr.FromString("10%")), 6, 1},
		{ptrIntOrString(intstr.FromString("100%")), 6, 6},
		{ptrIntOrString(intstr.FromString("junk")), 6, 1},
	} {
		if got := batchSize(tc.size, tc.replicas); got != tc.want {
			t.Errorf("batchSize(%v, %d) = %d, want %d", tc.size, tc.replicas, got, tc.want)
		}
	}
}

func TestStepStartRoundsUp(t *testing.T) {
	if got, want := stepStart(t0), t0.Truncate(time.Second).Add(time.Second); !got.Equal(want) {
		t.Errorf("stepStart(%v) = %v, want %v", t0, got, want)
	}
	whole := t0.Truncate(time.Second)
	if got := stepStart(whole); !got.Equal(whole) {
		t.Errorf("stepStart(%v) = %v, want it unchanged", whole, got)
	}
}

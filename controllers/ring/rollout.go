package ring

import (
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/stablering/stablering/api/v1alpha1"
)

// PublishLead is added to every drain: a batch's pods are deleted no earlier than
// stepStartTime + drainSeconds + PublishLead, so gateways that see the Draining state a little
// late (status times have one-second resolution, and watches take a moment) still get the whole
// drainSeconds to spread the disconnects.
const PublishLead = time.Second

// PodRef is a pod the controller must delete. The deletion is conditioned on UID and
// resourceVersion, so a stale cache can never delete a pod twice or delete its replacement.
type PodRef struct {
	Name            string
	UID             types.UID
	ResourceVersion string
}

// rolloutInput is what the planner decides from.
type rolloutInput struct {
	spec     v1alpha1.RolloutSpec
	replicas int32
	// onDelete is true when the StatefulSet uses the OnDelete update strategy.
	onDelete bool
	// synced is true when the StatefulSet's status reflects its current spec.
	synced          bool
	currentRevision string
	updateRevision  string
	members         []observed
	prev            *v1alpha1.RolloutStatus
	// changed is true when the StableRing spec or the StatefulSet's scale changed since prev was
	// written; it lifts a stall.
	changed bool
	now     time.Time
}

// rolloutPlan is the planner's decision.
type rolloutPlan struct {
	status *v1alpha1.RolloutStatus
	// delete are the pods to delete once status is persisted (their UIDs are in it).
	delete []PodRef
	// wake is when the plan must be looked at again although nothing changed; zero for never.
	wake time.Time
	// next and blockers are set when the next batch is due but waits for members outside it.
	next, blockers []int32
	events         []Event
}

// planRollout decides the next rollout status, the pods to delete and when to look again.
func planRollout(in rolloutInput) rolloutPlan {
	if !in.onDelete {
		return rolloutPlan{status: &v1alpha1.RolloutStatus{
			Phase:           v1alpha1.RolloutDisabled,
			CurrentRevision: in.currentRevision,
			UpdateRevision:  in.updateRevision,
		}}
	}
	p := &planner{in: in, st: in.prev.DeepCopy()}
	if !in.synced {
		// The StatefulSet controller has not caught up with the StatefulSet yet; its revisions
		// are stale, so decide nothing until it has. A spec change still lifts a stall, as the
		// change would go unnoticed later.
		if p.st != nil && p.st.Phase == v1alpha1.RolloutStalled && in.changed {
			p.liftStall(false)
		}
		p.plan.status = p.st
		return p.plan
	}
	if p.st == nil {
		p.st = &v1alpha1.RolloutStatus{}
	}
	p.followStatefulSet()
	p.forgetLeftMembers()
	p.run()
	p.plan.status = p.st
	return p.plan
}

// planner carries one planning pass: the input, the status being built and the plan.
type planner struct {
	in   rolloutInput
	st   *v1alpha1.RolloutStatus
	plan rolloutPlan
}

// followStatefulSet takes over the StatefulSet's revisions. A new update revision restarts the
// plan from the current state: a batch in flight carries on towards the new revision as batch 1
// (its deadline restarts), and later batches are chosen afresh. A new revision, a spec change or
// a scale change lifts a stall.
func (p *planner) followStatefulSet() {
	st, in := p.st, p.in
	prevPhase := st.Phase
	if st.Phase == v1alpha1.RolloutDisabled {
		p.clearBatch()
		st.Phase = ""
	}
	st.CurrentRevision = in.currentRevision
	newRevision := st.UpdateRevision != in.updateRevision
	if newRevision && st.UpdateRevision != "" {
		st.Batch = 0
		if len(st.BatchMembers) > 0 {
			st.Batch = 1
		}
		p.restartDeadline()
	}
	st.UpdateRevision = in.updateRevision
	if prevPhase == v1alpha1.RolloutStalled && (newRevision || in.changed) {
		p.liftStall(newRevision)
	}
}

// liftStall resumes a stalled rollout with a fresh deadline for its batch.
func (p *planner) liftStall(newRevision bool) {
	cause := "the StableRing spec or the StatefulSet's scale changed"
	if newRevision {
		cause = "the StatefulSet has a new revision"
	}
	p.st.Phase = v1alpha1.RolloutProgressing
	p.restartDeadline()
	p.event(corev1.EventTypeNormal, "RolloutResumed", "the stalled rollout to revision %s resumes at batch %d (%s)",
		p.st.UpdateRevision, p.st.Batch, cause)
}

// restartDeadline gives a Restarting batch a fresh progress deadline.
func (p *planner) restartDeadline() {
	if p.st.Step == v1alpha1.BatchRestarting {
		p.enterStep(v1alpha1.BatchRestarting)
	}
}

// forgetLeftMembers drops batch members that a scale-down removed from the ring.
func (p *planner) forgetLeftMembers() {
	st := p.st
	st.BatchMembers = slices.DeleteFunc(st.BatchMembers, func(o int32) bool { return p.member(o) == nil })
	st.DeletedPods = slices.DeleteFunc(st.DeletedPods, func(d v1alpha1.DeletedPod) bool { return p.member(d.Ordinal) == nil })
	if len(st.BatchMembers) == 0 {
		p.clearBatch()
	}
}

func (p *planner) run() {
	if p.st.Phase == v1alpha1.RolloutStalled {
		return
	}
	if len(p.st.BatchMembers) > 0 && !p.advanceBatch() {
		return
	}
	p.startNextBatch()
}

// advanceBatch moves the current batch through Draining, Restarting and Settling as far as time
// and the pods allow. It reports whether the batch is over.
func (p *planner) advanceBatch() bool {
	st := p.st
	st.Phase = v1alpha1.RolloutProgressing
	switch st.Step {
	case v1alpha1.BatchDraining, v1alpha1.BatchRestarting, v1alpha1.BatchSettling:
		if st.StepStartTime == nil {
			p.enterStep(st.Step) // a hand-edited status: start the step's clock now
		}
	default:
		// A step this controller does not know (another version's status, or a hand edit): drain
		// again from the start, the one step that is always safe, and say so.
		p.event(corev1.EventTypeWarning, "UnknownBatchStep", "batch %d (%s) was at step %q, which this controller does not know; it drains again from the start",
			st.Batch, memberOrdinals(st.BatchMembers), st.Step)
		p.enterStep(v1alpha1.BatchDraining)
	}
	if st.Step == v1alpha1.BatchDraining && !p.drain() {
		return false
	}
	if st.Step == v1alpha1.BatchRestarting && !p.restart() {
		return false
	}
	return p.settle()
}

// drain reports whether the batch has drained long enough, and then moves it to Restarting.
func (p *planner) drain() bool {
	end := p.stepEnd(seconds(p.in.spec.DrainSeconds) + PublishLead)
	if p.in.now.Before(end) {
		p.wakeAt(end)
		return false
	}
	p.enterStep(v1alpha1.BatchRestarting)
	return true
}

// restart reports whether every batch member is Ready at the update revision, and then moves
// the batch to Settling. Until then it deletes the batch's outdated pods or stalls.
func (p *planner) restart() bool {
	st := p.st
	if !p.batchReady() {
		p.restartBatch()
		return false
	}
	p.enterStep(v1alpha1.BatchSettling)
	p.event(corev1.EventTypeNormal, "BatchCompleted", "batch %d completed: %s %s Ready at revision %s",
		st.Batch, memberOrdinals(st.BatchMembers), plural(len(st.BatchMembers), "is", "are"), st.UpdateRevision)
	return true
}

// settle reports whether the batch has settled for pauseSeconds, and then ends it.
func (p *planner) settle() bool {
	end := p.stepEnd(seconds(p.in.spec.PauseSeconds))
	if p.in.now.Before(end) {
		p.wakeAt(end)
		return false
	}
	p.clearBatch()
	return true
}

// restartBatch deletes the batch's outdated pods, or stalls the rollout once the progress
// deadline has passed.
func (p *planner) restartBatch() {
	st := p.st
	deadline := p.stepEnd(seconds(p.in.spec.ProgressDeadlineSeconds))
	if !p.in.now.Before(deadline) {
		st.Phase = v1alpha1.RolloutStalled
		p.event(corev1.EventTypeWarning, "RolloutStalled", "batch %d (%s) was not Ready at revision %s within %ds; no more pods are deleted until the StableRing spec or the StatefulSet changes",
			st.Batch, memberOrdinals(st.BatchMembers), st.UpdateRevision, p.in.spec.ProgressDeadlineSeconds)
		return
	}
	recorded := p.deletedUIDs()
	for _, ordinal := range st.BatchMembers {
		m := p.member(ordinal)
		if !m.live() || m.revision == st.UpdateRevision {
			continue
		}
		// The UID goes into status before the pod is deleted (the controller persists status
		// first), so a restarted controller knows which pods it already deleted. A recorded pod
		// that is still live was not deleted yet (a crash or a failed call): delete it again.
		if !recorded[m.uid] {
			st.DeletedPods = append(st.DeletedPods, v1alpha1.DeletedPod{Ordinal: ordinal, UID: string(m.uid)})
		}
		p.plan.delete = append(p.plan.delete, PodRef{Name: m.podName, UID: m.uid, ResourceVersion: m.resourceVersion})
	}
	p.wakeAt(deadline)
}

// batchReady reports whether every batch member runs a Ready pod at the update revision that the
// controller did not delete.
func (p *planner) batchReady() bool {
	recorded := p.deletedUIDs()
	for _, ordinal := range p.st.BatchMembers {
		if !replaced(*p.member(ordinal), p.st.UpdateRevision, recorded) {
			return false
		}
	}
	return true
}

// replaced reports whether m runs a Ready pod at revision that is not one the controller deleted.
func replaced(m observed, revision string, deleted map[types.UID]bool) bool {
	return m.ready && m.revision == revision && !deleted[m.uid]
}

// startNextBatch starts the next batch when it is due, or says why not in the phase.
func (p *planner) startNextBatch() {
	st, in := p.st, p.in
	var outdated []int32
	for _, m := range slices.Backward(in.members) {
		if m.live() && m.revision != st.UpdateRevision {
			outdated = append(outdated, m.ordinal)
		}
	}
	if len(outdated) == 0 {
		if st.Phase != v1alpha1.RolloutComplete && st.Phase != "" {
			p.event(corev1.EventTypeNormal, "RolloutCompleted", "all members run revision %s", st.UpdateRevision)
		}
		st.Phase = v1alpha1.RolloutComplete
		return
	}
	if in.spec.Paused {
		st.Phase = v1alpha1.RolloutPaused
		return
	}
	st.Phase = v1alpha1.RolloutProgressing
	batch := outdated[:min(batchSize(in.spec.BatchSize, in.replicas), len(outdated))]
	var blockers []int32
	for _, m := range in.members {
		if !m.ready && !slices.Contains(batch, m.ordinal) {
			blockers = append(blockers, m.ordinal)
		}
	}
	if len(blockers) > 0 {
		p.plan.next, p.plan.blockers = batch, blockers
		return
	}
	st.Batch++
	st.BatchMembers = batch
	p.enterStep(v1alpha1.BatchDraining)
	st.BatchStartTime = st.StepStartTime.DeepCopy()
	p.wakeAt(p.stepEnd(seconds(in.spec.DrainSeconds) + PublishLead))
	n := len(batch)
	p.event(corev1.EventTypeNormal, "BatchStarted", "batch %d started: %s %s for %ds, then %s deleted to move %s to revision %s",
		st.Batch, memberOrdinals(batch), plural(n, "drains", "drain"), in.spec.DrainSeconds,
		plural(n, "its pod is", "their pods are"), plural(n, "it", "them"), st.UpdateRevision)
}

// batchSize is the number of members a batch replaces: spec.rollout.batchSize as a number, or as
// a percentage of replicas rounded down, and at least 1.
func batchSize(size *intstr.IntOrString, replicas int32) int {
	if size == nil {
		return 1
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(size, int(replicas), false)
	if err != nil || n < 1 {
		return 1
	}
	return n
}

func (p *planner) enterStep(step v1alpha1.BatchStep) {
	p.st.Step = step
	p.st.StepStartTime = ptrTime(stepStart(p.in.now))
}

func (p *planner) stepEnd(d time.Duration) time.Time {
	return p.st.StepStartTime.Add(d)
}

func (p *planner) clearBatch() {
	st := p.st
	st.BatchMembers, st.DeletedPods = nil, nil
	st.Step, st.BatchStartTime, st.StepStartTime = "", nil, nil
}

func (p *planner) wakeAt(t time.Time) {
	if p.plan.wake.IsZero() || t.Before(p.plan.wake) {
		p.plan.wake = t
	}
}

func (p *planner) event(eventType, reason, format string, args ...any) {
	p.plan.events = append(p.plan.events, Event{Type: eventType, Reason: reason, Action: ActionRollout, Message: fmt.Sprintf(format, args...)})
}

// member returns the observed member with ordinal, or nil if it is not in the ring.
func (p *planner) member(ordinal int32) *observed {
	i, ok := slices.BinarySearchFunc(p.in.members, ordinal, func(m observed, o int32) int { return int(m.ordinal - o) })
	if !ok {
		return nil
	}
	return &p.in.members[i]
}

func (p *planner) deletedUIDs() map[types.UID]bool {
	return deletedUIDs(p.st)
}

func deletedUIDs(st *v1alpha1.RolloutStatus) map[types.UID]bool {
	if st == nil {
		return nil
	}
	uids := make(map[types.UID]bool, len(st.DeletedPods))
	for _, d := range st.DeletedPods {
		uids[types.UID(d.UID)] = true
	}
	return uids
}

// stepStart is when a step entered at now starts its clock: now rounded up to a whole second,
// the resolution of status times, so a step never lasts less than its configured time.
func stepStart(now time.Time) time.Time {
	t := now.Truncate(time.Second)
	if t.Before(now) {
		t = t.Add(time.Second)
	}
	return t
}

func seconds(s int32) time.Duration {
	return time.Duration(s) * time.Second
}

func ptrTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t)
	return &mt
}

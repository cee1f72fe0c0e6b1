package ring

import (
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stablering/stablering/api/v1alpha1"
)

// Condition reasons of a StableRing.
const (
	// ReasonAllMembersServing (Ready=True): every joined member is Serving.
	ReasonAllMembersServing = "AllMembersServing"
	// ReasonMembersNotServing (Ready=False): some joined members are Draining, Restarting or Down.
	ReasonMembersNotServing = "MembersNotServing"
	// ReasonNoMembers (Ready=False): no member has joined the ring yet.
	ReasonNoMembers = "NoMembers"
	// ReasonStatefulSetNotFound (Ready=False, Progressing=False, Degraded=True): the named
	// StatefulSet does not exist.
	ReasonStatefulSetNotFound = "StatefulSetNotFound"
	// ReasonWaitingForStatefulSet (Progressing=Unknown): the StatefulSet controller has not
	// reported the StatefulSet's revisions yet.
	ReasonWaitingForStatefulSet = "WaitingForStatefulSet"
	// ReasonRollingUpdateStrategy (Progressing=False, Degraded=True): the StatefulSet does not
	// use OnDelete, so rollouts are not paced.
	ReasonRollingUpdateStrategy = "RollingUpdateStrategy"
	// ReasonBatchProgressing (Progressing=True): a batch is Draining, Restarting or Settling.
	ReasonBatchProgressing = "BatchProgressing"
	// ReasonWaitingForMembers (Progressing=True): the next batch waits for members outside it to
	// be Serving.
	ReasonWaitingForMembers = "WaitingForMembers"
	// ReasonRolloutComplete (Progressing=False): every member runs the update revision.
	ReasonRolloutComplete = "RolloutComplete"
	// ReasonRolloutPaused (Progressing=False): spec.rollout.paused stopped the rollout.
	ReasonRolloutPaused = "RolloutPaused"
	// ReasonProgressDeadlineExceeded (Progressing=False, Degraded=True): a batch was not Ready
	// in time and the rollout stalled.
	ReasonProgressDeadlineExceeded = "ProgressDeadlineExceeded"
	// ReasonMembersDown (Degraded=True): joined members are not Ready outside a rollout batch.
	ReasonMembersDown = "MembersDown"
	// ReasonPortNotFound (Ready=False when Serving members are affected, Degraded=True): spec.port
	// names a port that pods do not declare, so their members have no address.
	ReasonPortNotFound = "PortNotFound"
	// ReasonMembersUnroutable (Ready=False): Serving members have no address for another reason
	// than spec.port (their pods have no IP), so gateways cannot route their rooms.
	ReasonMembersUnroutable = "MembersUnroutable"
	// ReasonOrderedReadyPodManagement (Degraded=True): the StatefulSet uses podManagementPolicy
	// OrderedReady, so the pods of a rollout batch of more than one restart one at a time.
	ReasonOrderedReadyPodManagement = "OrderedReadyPodManagement"
	// ReasonRolloutOwnedElsewhere (Progressing=False): another StableRing names the same
	// StatefulSet and is older, so it paces the rollouts; this one deletes no pods.
	ReasonRolloutOwnedElsewhere = "RolloutOwnedElsewhere"
	// ReasonUnknownRolloutPhase (Progressing=Unknown): status.rollout.phase is not one this
	// controller knows (another version wrote it), and it has not planned the rollout anew yet.
	ReasonUnknownRolloutPhase = "UnknownRolloutPhase"
	// ReasonTooManyMembers (Degraded=True): the StatefulSet has more replicas than a ring can
	// hold (v1alpha1.MaxMembers); the ring has the first MaxMembers ordinals.
	ReasonTooManyMembers = "TooManyMembers"
	// ReasonAsExpected (Degraded=False): nothing is wrong.
	ReasonAsExpected = "AsExpected"
)

// maxListed is how many members a condition message names before it says "and N more".
const maxListed = 8

// conditionInput is what the conditions are computed from.
type conditionInput struct {
	ring *v1alpha1.StableRing
	sts  *appsv1.StatefulSet
	// owner is the StableRing that paces the rollouts when it is not ring, nil when ring does.
	owner   *v1alpha1.StableRing
	members []v1alpha1.Member
	obs     []observed
	plan    rolloutPlan
}

// conditions sets Ready, Progressing and Degraded on a copy of prev. A condition's
// lastTransitionTime changes only when its status does.
func conditions(in conditionInput, prev []metav1.Condition, now time.Time) []metav1.Condition {
	conds := slices.Clone(prev)
	for _, c := range []metav1.Condition{in.ready(), in.progressing(), in.degraded()} {
		c.ObservedGeneration = in.ring.Generation
		c.LastTransitionTime = metav1.NewTime(now.Truncate(time.Second))
		meta.SetStatusCondition(&conds, c)
	}
	return conds
}

func condition(conditionType string, status metav1.ConditionStatus, reason, format string, args ...any) metav1.Condition {
	return metav1.Condition{Type: conditionType, Status: status, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

func (in conditionInput) ready() metav1.Condition {
	if in.sts == nil {
		return condition(v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonStatefulSetNotFound,
			"StatefulSet %s does not exist in namespace %s, so no member can serve; create it (see Degraded)", in.ring.Spec.StatefulSetName, in.ring.Namespace)
	}
	pending := in.membersIn(v1alpha1.MemberPending)
	joined := len(in.members) - len(pending)
	notServing := in.membersWhere(func(m v1alpha1.Member) bool {
		return m.State.Joined() && m.State != v1alpha1.MemberServing
	})
	unroutable := in.membersWhere(func(m v1alpha1.Member) bool { return m.State == v1alpha1.MemberServing && m.Address == "" })
	switch {
	case len(in.members) == 0:
		return condition(v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonNoMembers,
			"StatefulSet %s has 0 replicas; scale it up to serve rooms", in.sts.Name)
	case joined == 0:
		return condition(v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonNoMembers,
			"no member has joined the ring yet; a member joins when its pod is first Ready (Pending: %s)", in.listMembers(pending, false))
	case len(unroutable) > 0:
		return in.unroutable(unroutable)
	case len(notServing) > 0:
		return condition(v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonMembersNotServing,
			"%d of %s %s not Serving: %s. Draining and Restarting members are in a paced rollout batch (see Progressing); Down members are explained by Degraded",
			len(notServing), count(joined, "joined member"), plural(len(notServing), "is", "are"), in.listMembers(notServing, true))
	case len(pending) > 0:
		return condition(v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonAllMembersServing,
			"%s Serving; %s %s when first Ready: %s", allJoined(joined), count(len(pending), "Pending member"),
			plural(len(pending), "joins", "join"), in.listMembers(pending, false))
	default:
		return condition(v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonAllMembersServing, "%s Serving", allMembers(joined))
	}
}

// allJoined says "the 1 joined member is" or "all 3 joined members are".
func allJoined(n int) string {
	return plural(n, "the 1 joined member is", fmt.Sprintf("all %d joined members are", n))
}

// allMembers says "the 1 member is" or "all 3 members are".
func allMembers(n int) string {
	return plural(n, "the 1 member is", fmt.Sprintf("all %d members are", n))
}

// unroutable is the Ready condition when Serving members have no address: gateways answer 503 for
// their rooms until the cause is fixed, so the ring is not Ready although its pods are.
func (in conditionInput) unroutable(members []v1alpha1.Member) metav1.Condition {
	var noPort, noIP []v1alpha1.Member
	for _, m := range members {
		if o := in.observed(m.Ordinal); o != nil && o.portMissing {
			noPort = append(noPort, m)
		} else {
			noIP = append(noIP, m)
		}
	}
	var messages []string
	reason := ReasonMembersUnroutable
	if n := len(noPort); n > 0 {
		reason = ReasonPortNotFound
		messages = append(messages, fmt.Sprintf("Serving %s %s %s no address: spec.port %q is not a container port of %s, so gateways cannot route %s rooms and answer 503. "+
			"Set spec.port to the name of a containerPort of the pod template, or to a port number.",
			plural(n, "member", "members"), in.listMembers(noPort, false), plural(n, "has", "have"), in.ring.Spec.Port.String(),
			plural(n, "its pod", "their pods"), plural(n, "its", "their")))
	}
	if n := len(noIP); n > 0 {
		messages = append(messages, fmt.Sprintf("Serving %s %s %s no address: %s no IP, so gateways cannot route %s rooms and answer 503.",
			plural(n, "member", "members"), in.listMembers(noIP, false), plural(n, "has", "have"),
			plural(n, "its pod has", "their pods have"), plural(n, "its", "their")))
	}
	return condition(v1alpha1.ConditionReady, metav1.ConditionFalse, reason, "%s", strings.Join(messages, " "))
}

// observed returns the observation of ordinal, or nil.
func (in conditionInput) observed(ordinal int32) *observed {
	i := slices.IndexFunc(in.obs, func(o observed) bool { return o.ordinal == ordinal })
	if i < 0 {
		return nil
	}
	return &in.obs[i]
}

func (in conditionInput) progressing() metav1.Condition {
	r := in.plan.status
	switch {
	case in.sts == nil:
		return condition(v1alpha1.ConditionProgressing, metav1.ConditionFalse, ReasonStatefulSetNotFound,
			"no rollout: StatefulSet %s does not exist", in.ring.Spec.StatefulSetName)
	case in.owner != nil && (r == nil || r.Phase != v1alpha1.RolloutDisabled):
		// A StatefulSet without OnDelete is not paced by anyone: that is said below.
		return condition(v1alpha1.ConditionProgressing, metav1.ConditionFalse, ReasonRolloutOwnedElsewhere, "%s", ownedElsewhereMessage(in.ring, in.owner, r))
	case r == nil:
		return condition(v1alpha1.ConditionProgressing, metav1.ConditionUnknown, ReasonWaitingForStatefulSet,
			"waiting for the StatefulSet controller to report the revisions of StatefulSet %s", in.sts.Name)
	}
	switch r.Phase {
	case v1alpha1.RolloutDisabled:
		return condition(v1alpha1.ConditionProgressing, metav1.ConditionFalse, ReasonRollingUpdateStrategy, "%s", in.rollingUpdateMessage())
	case v1alpha1.RolloutComplete:
		return condition(v1alpha1.ConditionProgressing, metav1.ConditionFalse, ReasonRolloutComplete,
			"%s revision %s", plural(len(in.members), "the 1 member runs", fmt.Sprintf("all %d members run", len(in.members))), r.UpdateRevision)
	case v1alpha1.RolloutPaused:
		return condition(v1alpha1.ConditionProgressing, metav1.ConditionFalse, ReasonRolloutPaused,
			"spec.rollout.paused is true: %s still %s an older revision than %s; set spec.rollout.paused to false to continue",
			count(len(in.outdated(r.UpdateRevision)), "member"), plural(len(in.outdated(r.UpdateRevision)), "runs", "run"), r.UpdateRevision)
	case v1alpha1.RolloutStalled:
		return condition(v1alpha1.ConditionProgressing, metav1.ConditionFalse, ReasonProgressDeadlineExceeded, "%s", in.stallMessage())
	case v1alpha1.RolloutProgressing:
		if len(r.BatchMembers) > 0 {
			return condition(v1alpha1.ConditionProgressing, metav1.ConditionTrue, ReasonBatchProgressing, "%s", in.batchMessage())
		}
		n := len(in.plan.blockers)
		return condition(v1alpha1.ConditionProgressing, metav1.ConditionTrue, ReasonWaitingForMembers,
			"batch %d (%s) starts when every member outside it is Serving; not Serving: %s. If %s cannot become Ready at %s current revision, delete %s: the StatefulSet recreates %s at revision %s",
			r.Batch+1, memberOrdinals(in.plan.next), in.listMembers(in.membersAt(in.plan.blockers), true),
			plural(n, "it", "they"), plural(n, "its", "their"), plural(n, "its pod", "their pods"), plural(n, "it", "them"), r.UpdateRevision)
	default:
		return condition(v1alpha1.ConditionProgressing, metav1.ConditionUnknown, ReasonUnknownRolloutPhase,
			"status.rollout.phase %q is not one this controller knows; it decides the rollout anew once the StatefulSet controller has reported the revisions of StatefulSet %s",
			r.Phase, in.sts.Name)
	}
}

// rolloutSpec is the spec.rollout that paces the rollouts: the owner's when ring follows it.
func (in conditionInput) rolloutSpec() v1alpha1.RolloutSpec {
	if in.owner != nil {
		return in.owner.Spec.Rollout
	}
	return in.ring.Spec.Rollout
}

func (in conditionInput) batchMessage() string {
	r := in.plan.status
	spec := in.ring.Spec.Rollout
	head := fmt.Sprintf("batch %d (%s)", r.Batch, memberOrdinals(r.BatchMembers))
	var msg string
	switch r.Step {
	case v1alpha1.BatchDraining:
		msg = fmt.Sprintf("%s is Draining; %s deleted at %s", head, plural(len(r.BatchMembers), "its pod is", "its pods are"),
			timestamp(r.StepStartTime.Add(seconds(spec.DrainSeconds)+PublishLead)))
	case v1alpha1.BatchRestarting:
		pods := in.unreplaced(r)
		msg = fmt.Sprintf("%s is Restarting: waiting for %s %s to be Ready at revision %s (progress deadline %s)", head,
			plural(len(pods), "pod", "pods"), strings.Join(pods, ", "), r.UpdateRevision, timestamp(r.StepStartTime.Add(seconds(spec.ProgressDeadlineSeconds))))
	case v1alpha1.BatchSettling:
		msg = fmt.Sprintf("%s is Ready at revision %s; the next batch may start at %s (pauseSeconds)", head,
			r.UpdateRevision, timestamp(r.StepStartTime.Add(seconds(spec.PauseSeconds))))
	default:
		msg = fmt.Sprintf("%s is at step %q, which this controller does not know: its members count as outside a rollout, "+
			"and once the StatefulSet's revisions are current the batch drains again from the start", head, r.Step)
	}
	if spec.Paused {
		msg += "; spec.rollout.paused is true, so the rollout stops after this batch"
	}
	return msg
}

func (in conditionInput) stallMessage() string {
	r := in.plan.status
	return fmt.Sprintf("batch %d (%s) was not Ready at revision %s within progressDeadlineSeconds (%ds) after %s deleted; not Ready: %s. "+
		"No more pods are deleted until the StableRing spec or the StatefulSet changes: fix the pod template (the new revision restarts the rollout), "+
		"or change spec.rollout (for example raise progressDeadlineSeconds) to retry",
		r.Batch, memberOrdinals(r.BatchMembers), r.UpdateRevision, in.rolloutSpec().ProgressDeadlineSeconds,
		plural(len(r.BatchMembers), "its pod was", "its pods were"), strings.Join(in.unreplaced(r), ", "))
}

func (in conditionInput) rollingUpdateMessage() string {
	return fmt.Sprintf("StatefulSet %s uses updateStrategy %s, so the StatefulSet controller replaces pods without draining and this StableRing does not pace rollouts; "+
		"set the StatefulSet's spec.updateStrategy.type to OnDelete to pace them", in.sts.Name, in.sts.Spec.UpdateStrategy.Type)
}

func (in conditionInput) degraded() metav1.Condition {
	type problem struct{ reason, message string }
	var problems []problem
	add := func(reason, format string, args ...any) {
		problems = append(problems, problem{reason, fmt.Sprintf(format, args...)})
	}
	if in.sts == nil {
		add(ReasonStatefulSetNotFound, "StatefulSet %s not found in namespace %s; %s "+
			"Create the StatefulSet; spec.statefulSetName is immutable, so to use another StatefulSet create a new StableRing.",
			in.ring.Spec.StatefulSetName, in.ring.Namespace, in.keptAsDown())
	}
	r := in.plan.status
	stalled := in.sts != nil && r != nil && r.Phase == v1alpha1.RolloutStalled
	if stalled {
		add(ReasonProgressDeadlineExceeded, "%s.", in.stallMessage())
	}
	if down := in.membersIn(v1alpha1.MemberDown); in.sts != nil && len(down) > 0 {
		var inStalledBatch, outside []v1alpha1.Member
		for _, m := range down {
			if stalled && slices.Contains(r.BatchMembers, m.Ordinal) {
				inStalledBatch = append(inStalledBatch, m)
			} else {
				outside = append(outside, m)
			}
		}
		if n := len(outside); n > 0 {
			add(ReasonMembersDown, "%s %s %s Down (joined, not Ready, not in a rollout batch); %s. Check %s with kubectl describe pod.",
				plural(n, "member", "members"), in.listMembers(outside, false), plural(n, "is", "are"), in.unavailableEffect(n), plural(n, "its pod", "their pods"))
		}
		if n := len(inStalledBatch); n > 0 {
			add(ReasonMembersDown, "%s %s of the stalled batch %d %s Down: %s restart missed the progress deadline, so %s.",
				plural(n, "member", "members"), in.listMembers(inStalledBatch, false), r.Batch, plural(n, "is", "are"), plural(n, "its", "their"), in.unavailableEffect(n))
		}
	}
	if missing := in.portMissing(); len(missing) > 0 {
		n := len(missing)
		add(ReasonPortNotFound, "spec.port %q is not a container port of %s %s, so %s no address; name a containerPort of the pod template or use a port number.",
			in.ring.Spec.Port.String(), plural(n, "pod", "pods"), strings.Join(missing, ", "), plural(n, "its member has", "their members have"))
	}
	if r != nil && r.Phase == v1alpha1.RolloutDisabled {
		add(ReasonRollingUpdateStrategy, "%s.", in.rollingUpdateMessage())
	}
	if size := in.orderedBatchSize(); size > 1 {
		add(ReasonOrderedReadyPodManagement, "%s.", in.orderedReadyMessage(size))
	}
	if in.sts != nil && desiredReplicas(in.sts) > v1alpha1.MaxMembers {
		add(ReasonTooManyMembers, "StatefulSet %s has %d replicas, more than the %d members a StableRing holds; the ring has the first %d ordinals, "+
			"and the pods of the others get no connections and are not replaced by rollouts. Split the rooms over several StatefulSets.",
			in.sts.Name, desiredReplicas(in.sts), v1alpha1.MaxMembers, v1alpha1.MaxMembers)
	}
	if len(problems) == 0 {
		return condition(v1alpha1.ConditionDegraded, metav1.ConditionFalse, ReasonAsExpected, "the ring is resolved and no rollout is stalled")
	}
	messages := make([]string, len(problems))
	for i, p := range problems {
		messages[i] = p.message
	}
	return condition(v1alpha1.ConditionDegraded, metav1.ConditionTrue, problems[0].reason, "%s", strings.Join(messages, " "))
}

// keptAsDown says what became of the joined members of a missing StatefulSet.
func (in conditionInput) keptAsDown() string {
	n := len(in.membersIn(v1alpha1.MemberDown))
	if n == 0 {
		return "the ring has no joined members."
	}
	return fmt.Sprintf("its %s %s kept as Down, so gateways treat %s rooms as spec.unavailable says.",
		count(n, "joined member"), plural(n, "is", "are"), plural(n, "its", "their"))
}

// unavailableEffect says what gateways do with the rooms of n Down members.
func (in conditionInput) unavailableEffect(n int) string {
	u := in.ring.Spec.Unavailable
	its := plural(n, "its", "their")
	switch u.Policy {
	case v1alpha1.UnavailableFailover:
		return fmt.Sprintf("gateways fail %s rooms over to the next members at once (spec.unavailable.policy Failover)", its)
	case "", v1alpha1.UnavailableHold:
		return fmt.Sprintf("gateways hold %s rooms for %ds, then fail them over (spec.unavailable)", its, u.HoldSeconds)
	default:
		return fmt.Sprintf("gateways cannot route %s rooms, nor any other of this StableRing: spec.unavailable.policy %q is not Hold or Failover", its, u.Policy)
	}
}

// orderedBatchSize is the rollout's batch size when the StatefulSet controller recreates the pods
// of a batch one at a time: the StatefulSet uses OnDelete, so rollouts are paced, and
// podManagementPolicy OrderedReady (the API's default). It is 0 otherwise.
func (in conditionInput) orderedBatchSize() int {
	if in.sts == nil || in.sts.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType ||
		in.sts.Spec.PodManagementPolicy == appsv1.ParallelPodManagement {
		return 0
	}
	return batchSize(in.rolloutSpec().BatchSize, int32(len(in.obs)))
}

func (in conditionInput) orderedReadyMessage(size int) string {
	return fmt.Sprintf("StatefulSet %s uses podManagementPolicy OrderedReady, so the StatefulSet controller recreates the %d pods of a rollout batch one at a time, "+
		"each once the one before is Ready: a batch stays down for the sum of its pods' restart times instead of the longest one. "+
		"podManagementPolicy cannot be changed on an existing StatefulSet: recreate it with podManagementPolicy Parallel "+
		"(kubectl delete statefulset %s --cascade=orphan keeps its pods running, then apply it with the change), or set spec.rollout.batchSize to 1",
		in.sts.Name, size, in.sts.Name)
}

// unreplaced names the pods of batch members that are not yet Ready at the update revision.
func (in conditionInput) unreplaced(r *v1alpha1.RolloutStatus) []string {
	deleted := deletedUIDs(r)
	var pods []string
	for _, ordinal := range r.BatchMembers {
		i := slices.IndexFunc(in.obs, func(o observed) bool { return o.ordinal == ordinal })
		if i >= 0 && !replaced(in.obs[i], r.UpdateRevision, deleted) {
			pods = append(pods, in.obs[i].podName)
		}
	}
	return pods
}

func (in conditionInput) outdated(revision string) []int32 {
	var list []int32
	for _, o := range in.obs {
		if o.live() && o.revision != revision {
			list = append(list, o.ordinal)
		}
	}
	return list
}

func (in conditionInput) portMissing() []string {
	var pods []string
	for _, o := range in.obs {
		if o.exists && o.portMissing {
			pods = append(pods, o.podName)
		}
	}
	return pods
}

func (in conditionInput) membersIn(state v1alpha1.MemberState) []v1alpha1.Member {
	return in.membersWhere(func(m v1alpha1.Member) bool { return m.State == state })
}

func (in conditionInput) membersAt(ordinals []int32) []v1alpha1.Member {
	return in.membersWhere(func(m v1alpha1.Member) bool { return slices.Contains(ordinals, m.Ordinal) })
}

func (in conditionInput) membersWhere(keep func(v1alpha1.Member) bool) []v1alpha1.Member {
	var list []v1alpha1.Member
	for _, m := range in.members {
		if keep(m) {
			list = append(list, m)
		}
	}
	return list
}

// listMembers formats members as "3 (chat-3), 2 (chat-2)", with their states if withState, and
// names at most maxListed of them.
func (in conditionInput) listMembers(members []v1alpha1.Member, withState bool) string {
	parts := make([]string, 0, min(len(members), maxListed)+1)
	for i, m := range members {
		if i == maxListed {
			parts = append(parts, fmt.Sprintf("and %d more", len(members)-maxListed))
			break
		}
		pod := in.ring.PodName(m.Ordinal)
		part := fmt.Sprintf("%d (%s)", m.Ordinal, pod)
		if withState {
			part = fmt.Sprintf("%d (%s, %s)", m.Ordinal, pod, m.State)
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, ", ")
}

func timestamp(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}

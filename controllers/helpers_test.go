package controllers_test

import (
	"fmt"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/gateway/resolved"
)

// name of the StatefulSet and StableRing in every test namespace.
const name = "chat"

// newNamespace creates a namespace for one spec.
func newNamespace(ctx SpecContext) string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ring-"}}
	Expect(k8s.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// createStatefulSet creates StatefulSet "chat" whose pods declare container port "http" (8080),
// with podManagementPolicy Parallel unless a change says otherwise.
func createStatefulSet(ctx SpecContext, namespace string, replicas int32, strategy appsv1.StatefulSetUpdateStrategyType, changes ...func(*appsv1.StatefulSet)) {
	GinkgoHelper()
	labels := map[string]string{"app": name}
	sts := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To(replicas),
			ServiceName:         name,
			PodManagementPolicy: appsv1.ParallelPodManagement,
			UpdateStrategy:      appsv1.StatefulSetUpdateStrategy{Type: strategy},
			Selector:            &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](1),
					Containers: []corev1.Container{{
						Name:  "chat",
						Image: "example.com/chat:v1",
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
						Env:   []corev1.EnvVar{{Name: "VERSION", Value: "1"}},
					}},
				},
			},
		},
	}
	for _, change := range changes {
		change(sts)
	}
	Expect(k8s.Create(ctx, sts)).To(Succeed())
}

// ringOption changes a StableRing before it is created.
type ringOption func(*v1alpha1.StableRing)

func withRollout(batchSize int, drain, pause, deadline int32) ringOption {
	return func(sr *v1alpha1.StableRing) {
		sr.Spec.Rollout.BatchSize = ptr.To(intstr.FromInt(batchSize))
		sr.Spec.Rollout.DrainSeconds = drain
		sr.Spec.Rollout.PauseSeconds = pause
		sr.Spec.Rollout.ProgressDeadlineSeconds = deadline
	}
}

// createRing creates StableRing "chat" over StatefulSet "chat" with port "http".
func createRing(ctx SpecContext, namespace string, opts ...ringOption) {
	GinkgoHelper()
	sr := &v1alpha1.StableRing{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: v1alpha1.StableRingSpec{
			StatefulSetName: name,
			Port:            intstr.FromString("http"),
			Key:             v1alpha1.KeySpec{Source: v1alpha1.KeySourceQuery, Name: "room"},
		},
	}
	for _, opt := range opts {
		opt(sr)
	}
	Expect(k8s.Create(ctx, sr)).To(Succeed())
	// A StableRing left behind must not be reconciled by the cluster-wide manager of a later spec.
	DeferCleanup(func(ctx SpecContext) {
		Expect(client.IgnoreNotFound(k8s.Delete(ctx, sr))).To(Succeed())
	})
}

func getRing(ctx SpecContext, g Gomega, namespace string) *v1alpha1.StableRing {
	sr := &v1alpha1.StableRing{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, sr)).To(Succeed())
	return sr
}

func getStatefulSet(ctx SpecContext, g Gomega, namespace string) *appsv1.StatefulSet {
	sts := &appsv1.StatefulSet{}
	g.Expect(k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, sts)).To(Succeed())
	return sts
}

// updateRing changes the StableRing's spec, retrying conflicts.
func updateRing(ctx SpecContext, namespace string, change func(*v1alpha1.StableRing)) {
	GinkgoHelper()
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		sr := &v1alpha1.StableRing{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, sr); err != nil {
			return err
		}
		change(sr)
		return k8s.Update(ctx, sr)
	})).To(Succeed())
}

// updateStatefulSet changes the StatefulSet, retrying conflicts.
func updateStatefulSet(ctx SpecContext, namespace string, change func(*appsv1.StatefulSet)) {
	GinkgoHelper()
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		sts := &appsv1.StatefulSet{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, sts); err != nil {
			return err
		}
		change(sts)
		return k8s.Update(ctx, sts)
	})).To(Succeed())
}

// setEnv sets environment variable key of the pod template, which makes a new revision.
func setEnv(key, value string) func(*appsv1.StatefulSet) {
	return func(sts *appsv1.StatefulSet) {
		c := &sts.Spec.Template.Spec.Containers[0]
		for i := range c.Env {
			if c.Env[i].Name == key {
				c.Env[i].Value = value
				return
			}
		}
		c.Env = append(c.Env, corev1.EnvVar{Name: key, Value: value})
	}
}

// unsetEnv removes environment variable key from the pod template.
func unsetEnv(key string) func(*appsv1.StatefulSet) {
	return func(sts *appsv1.StatefulSet) {
		c := &sts.Spec.Template.Spec.Containers[0]
		for i := range c.Env {
			if c.Env[i].Name == key {
				c.Env = append(c.Env[:i], c.Env[i+1:]...)
				return
			}
		}
	}
}

// condition returns the StableRing's condition of type t, or an empty one.
func condition(sr *v1alpha1.StableRing, t string) metav1.Condition {
	if c := meta.FindStatusCondition(sr.Status.Conditions, t); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// haveCondition matches a StableRing whose condition t has status and reason and is current.
func haveCondition(t string, status metav1.ConditionStatus, reason string) OmegaMatcher {
	return WithTransform(func(sr *v1alpha1.StableRing) string {
		c := condition(sr, t)
		if c.ObservedGeneration != sr.Generation || sr.Status.ObservedGeneration != sr.Generation {
			return fmt.Sprintf("stale (generation %d, observed %d)", sr.Generation, c.ObservedGeneration)
		}
		return fmt.Sprintf("%s/%s", c.Status, c.Reason)
	}, Equal(fmt.Sprintf("%s/%s", status, reason)))
}

// members returns the StableRing's members, assembled from the MemberSlices its status names as
// a gateway assembles them: it fails when a slice is missing or at another version.
func members(ctx SpecContext, g Gomega, sr *v1alpha1.StableRing) []v1alpha1.Member {
	list := &v1alpha1.MemberSliceList{}
	g.Expect(k8s.List(ctx, list, client.InNamespace(sr.Namespace))).To(Succeed())
	ms, err := resolved.Members(sr, list.Items)
	g.Expect(err).NotTo(HaveOccurred())
	return ms
}

// memberStates returns the states of members by ordinal.
func memberStates(members []v1alpha1.Member) map[int32]v1alpha1.MemberState {
	out := map[int32]v1alpha1.MemberState{}
	for _, m := range members {
		out[m.Ordinal] = m.State
	}
	return out
}

// allStates returns a map of ordinals 0..n-1 to state.
func allStates(n int32, state v1alpha1.MemberState) map[int32]v1alpha1.MemberState {
	out := map[int32]v1alpha1.MemberState{}
	for i := range n {
		out[i] = state
	}
	return out
}

// waitReady waits until the StableRing has n members, all Serving, at the update revision of the
// StatefulSet's current spec, with the rollout Complete, and returns it.
func waitReady(ctx SpecContext, namespace string, n int32) *v1alpha1.StableRing {
	GinkgoHelper()
	var sr *v1alpha1.StableRing
	Eventually(func(g Gomega) {
		sr = getRing(ctx, g, namespace)
		sts := getStatefulSet(ctx, g, namespace)
		g.Expect(sts.Status.ObservedGeneration).To(Equal(sts.Generation))
		g.Expect(memberStates(members(ctx, g, sr))).To(Equal(allStates(n, v1alpha1.MemberServing)))
		g.Expect(sr).To(haveCondition(v1alpha1.ConditionReady, metav1.ConditionTrue, "AllMembersServing"))
		g.Expect(sr.Status.UpdatedMembers).To(Equal(n))
		g.Expect(sr.Status.Rollout).NotTo(BeNil())
		g.Expect(sr.Status.Rollout.UpdateRevision).To(Equal(sts.Status.UpdateRevision))
		if sts.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
			g.Expect(sr.Status.Rollout.Phase).To(Equal(v1alpha1.RolloutComplete))
		}
	}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
	return sr
}

// podUIDs returns the UIDs of the namespace's pods by name.
func podUIDs(ctx SpecContext, g Gomega, namespace string) map[string]string {
	pods := &corev1.PodList{}
	g.Expect(k8s.List(ctx, pods, client.InNamespace(namespace))).To(Succeed())
	out := map[string]string{}
	for _, p := range pods.Items {
		out[p.Name] = string(p.UID)
	}
	return out
}

// eventsAbout returns the events.k8s.io events about the StableRing named ring with reason
// ("" for any).
func eventsAbout(ctx SpecContext, g Gomega, namespace, ring, reason string) []eventsv1.Event {
	list := &eventsv1.EventList{}
	g.Expect(k8s.List(ctx, list, client.InNamespace(namespace))).To(Succeed())
	var events []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Kind == "StableRing" && e.Regarding.Name == ring && (reason == "" || e.Reason == reason) {
			events = append(events, e)
		}
	}
	return events
}

// eventReasons returns the reasons of the events about the StableRing.
func eventReasons(ctx SpecContext, g Gomega, namespace string) []string {
	var reasons []string
	for _, e := range eventsAbout(ctx, g, namespace, name, "") {
		reasons = append(reasons, e.Reason)
	}
	return reasons
}

// ringEvents returns the events about the StableRing with reason.
func ringEvents(ctx SpecContext, g Gomega, namespace, reason string) []eventsv1.Event {
	return eventsAbout(ctx, g, namespace, name, reason)
}

// eventNotes returns the notes of the events about the StableRing with reason.
func eventNotes(ctx SpecContext, g Gomega, namespace, reason string) []string {
	var notes []string
	for _, e := range ringEvents(ctx, g, namespace, reason) {
		notes = append(notes, e.Note)
	}
	return notes
}

func podName(ordinal int32) string {
	return name + "-" + strconv.Itoa(int(ordinal))
}

package controllers_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stablering/stablering/api/v1alpha1"
)

// The signals a StableRing gives people: events, conditions and the columns of kubectl get.
var _ = Describe("Signals", func() {
	var namespace string

	BeforeEach(func(ctx SpecContext) {
		namespace = newNamespace(ctx)
		startManager(cp.Config, namespace)
	})

	It("names every member that joins or leaves in one event, which event correlation cannot hide", func(ctx SpecContext) {
		createStatefulSet(ctx, namespace, 5, appsv1.OnDeleteStatefulSetStrategyType)
		Eventually(func(g Gomega) {
			pods := &corev1.PodList{}
			g.Expect(k8s.List(ctx, pods, client.InNamespace(namespace))).To(Succeed())
			g.Expect(pods.Items).To(HaveLen(5))
			for _, p := range pods.Items {
				g.Expect(isReady(&p)).To(BeTrue(), p.Name)
			}
		}).WithContext(ctx).Should(Succeed())

		By("five Ready pods joining at once")
		createRing(ctx, namespace)
		waitReady(ctx, namespace, 5)
		Eventually(func(g Gomega) []int32 {
			return namedMembers(eventNotes(ctx, g, namespace, "MemberJoined"), "joined the ring")
		}).WithContext(ctx).Should(ConsistOf(int32(0), int32(1), int32(2), int32(3), int32(4)))

		By("a scale from 5 to 2")
		updateStatefulSet(ctx, namespace, func(sts *appsv1.StatefulSet) { sts.Spec.Replicas = ptr.To[int32](2) })
		waitReady(ctx, namespace, 2)
		Eventually(func(g Gomega) []string {
			return eventNotes(ctx, g, namespace, "MemberLeft")
		}).WithContext(ctx).Should(ConsistOf("members 2, 3, 4 left the ring: the StatefulSet no longer has these ordinals"))
	}, SpecTimeout(2*time.Minute))

	It("is not Ready while Serving members cannot be routed to, and says why", func(ctx SpecContext) {
		createStatefulSet(ctx, namespace, 2, appsv1.OnDeleteStatefulSetStrategyType)
		createRing(ctx, namespace, func(sr *v1alpha1.StableRing) { sr.Spec.Port = intstr.FromString("web") })
		Eventually(func(g Gomega) {
			sr := getRing(ctx, g, namespace)
			g.Expect(memberStates(members(ctx, g, sr))).To(Equal(allStates(2, v1alpha1.MemberServing)))
			for _, m := range members(ctx, g, sr) {
				g.Expect(m.Address).To(BeEmpty())
			}
			g.Expect(sr).To(haveCondition(v1alpha1.ConditionReady, metav1.ConditionFalse, "PortNotFound"))
			g.Expect(condition(sr, v1alpha1.ConditionReady).Message).To(ContainSubstring(
				`Serving members 0 (chat-0), 1 (chat-1) have no address: spec.port "web" is not a container port of their pods`))
			g.Expect(sr).To(haveCondition(v1alpha1.ConditionDegraded, metav1.ConditionTrue, "PortNotFound"))
			g.Expect(tableRow(ctx, g, namespace)).To(HaveKeyWithValue("Reason", "PortNotFound"))
		}).WithContext(ctx).Should(Succeed())

		By("a port the pods declare")
		updateRing(ctx, namespace, func(sr *v1alpha1.StableRing) { sr.Spec.Port = intstr.FromString("http") })
		waitReady(ctx, namespace, 2)
	}, SpecTimeout(2*time.Minute))

	It("warns about a missing StatefulSet and shows it in kubectl get", func(ctx SpecContext) {
		createRing(ctx, namespace)
		Eventually(func(g Gomega) {
			events := ringEvents(ctx, g, namespace, "StatefulSetNotFound")
			g.Expect(events).To(HaveLen(1))
			g.Expect(events[0].Type).To(Equal(corev1.EventTypeWarning))
			g.Expect(events[0].Note).To(Equal(fmt.Sprintf("StatefulSet chat does not exist in namespace %s: the ring has no members until it exists", namespace)))
			g.Expect(tableRow(ctx, g, namespace)).To(And(
				HaveKeyWithValue("Ready", BeEquivalentTo(0)),
				HaveKeyWithValue("Replicas", BeEquivalentTo(0)),
				HaveKeyWithValue("Updated", BeEquivalentTo(0)),
				HaveKeyWithValue("Reason", "StatefulSetNotFound"),
				HaveKeyWithValue("Degraded", "StatefulSetNotFound"),
			))
		}).WithContext(ctx).Should(Succeed())

		createStatefulSet(ctx, namespace, 2, appsv1.OnDeleteStatefulSetStrategyType)
		waitReady(ctx, namespace, 2)
		Eventually(func(g Gomega) map[string]any {
			return tableRow(ctx, g, namespace)
		}).WithContext(ctx).Should(And(
			HaveKeyWithValue("Ready", BeEquivalentTo(2)),
			HaveKeyWithValue("Updated", BeEquivalentTo(2)),
			HaveKeyWithValue("Phase", "Complete"),
			HaveKeyWithValue("Batch", BeEquivalentTo(0)),
			HaveKeyWithValue("Reason", "AllMembersServing"),
			HaveKeyWithValue("Degraded", "AsExpected"),
		))
	}, SpecTimeout(2*time.Minute))

	It("shows a rollout's progress in kubectl get, 0 updated members included", func(ctx SpecContext) {
		createStatefulSet(ctx, namespace, 2, appsv1.OnDeleteStatefulSetStrategyType)
		createRing(ctx, namespace, withRollout(1, 30, 0, 60))
		waitReady(ctx, namespace, 2)

		updateStatefulSet(ctx, namespace, setEnv("VERSION", "2"))
		Eventually(func(g Gomega) {
			g.Expect(tableRow(ctx, g, namespace)).To(And(
				HaveKeyWithValue("Ready", BeEquivalentTo(1)),
				HaveKeyWithValue("Replicas", BeEquivalentTo(2)),
				HaveKeyWithValue("Updated", BeEquivalentTo(0)),
				HaveKeyWithValue("Phase", "Progressing"),
				HaveKeyWithValue("Batch", BeEquivalentTo(1)),
				HaveKeyWithValue("Step", "Draining"),
				HaveKeyWithValue("Reason", "MembersNotServing"),
			))
			g.Expect(eventNotes(ctx, g, namespace, "BatchStarted")).To(ConsistOf(
				MatchRegexp(`^batch 1 started: member 1 drains for 30s, then its pod is deleted to move it to revision chat-\w+$`)))
		}).WithContext(ctx).Should(Succeed())
		columns := tableColumns(ctx, namespace)
		Expect(columns).To(Equal([]string{"Name", "Ready", "Replicas", "Updated", "Phase", "Batch", "Reason", "Algorithm", "Age"}))
	}, SpecTimeout(2*time.Minute))

	It("reports an OrderedReady StatefulSet, whose batches restart one pod at a time", func(ctx SpecContext) {
		createStatefulSet(ctx, namespace, 3, appsv1.OnDeleteStatefulSetStrategyType, func(sts *appsv1.StatefulSet) {
			sts.Spec.PodManagementPolicy = appsv1.OrderedReadyPodManagement
		})
		createRing(ctx, namespace, withRollout(2, 1, 0, 60))
		Eventually(func(g Gomega) {
			sr := getRing(ctx, g, namespace)
			g.Expect(sr).To(haveCondition(v1alpha1.ConditionReady, metav1.ConditionTrue, "AllMembersServing"))
			g.Expect(sr).To(haveCondition(v1alpha1.ConditionProgressing, metav1.ConditionFalse, "RolloutComplete"))
			g.Expect(sr).To(haveCondition(v1alpha1.ConditionDegraded, metav1.ConditionTrue, "OrderedReadyPodManagement"))
			g.Expect(condition(sr, v1alpha1.ConditionDegraded).Message).To(And(
				ContainSubstring("podManagementPolicy OrderedReady"), ContainSubstring("one at a time"), ContainSubstring("Parallel")))
		}).WithContext(ctx).Should(Succeed())

		By("batches of one restart one pod anyway")
		updateRing(ctx, namespace, func(sr *v1alpha1.StableRing) { sr.Spec.Rollout.BatchSize = ptr.To(intstr.FromInt32(1)) })
		Eventually(func(g Gomega) {
			g.Expect(getRing(ctx, g, namespace)).To(haveCondition(v1alpha1.ConditionDegraded, metav1.ConditionFalse, "AsExpected"))
		}).WithContext(ctx).Should(Succeed())
	}, SpecTimeout(2*time.Minute))
})

// memberList matches the ordinals an event names: "member 3" or "members 0, 1, 2".
var memberList = regexp.MustCompile(`^members? ([0-9, ]+) `)

// namedMembers returns the ordinals named by notes that contain what.
func namedMembers(notes []string, what string) []int32 {
	var out []int32
	for _, note := range notes {
		m := memberList.FindStringSubmatch(note)
		if m == nil || !strings.Contains(note, what) {
			continue
		}
		for _, field := range strings.Split(m[1], ", ") {
			n, err := strconv.Atoi(strings.TrimSpace(field))
			Expect(err).NotTo(HaveOccurred(), note)
			out = append(out, int32(n))
		}
	}
	return out
}

// table returns the StableRing as the API server prints it for kubectl get (a meta.k8s.io
// Table), with every column, those of -o wide included.
func table(ctx SpecContext, g Gomega, namespace string) *metav1.Table {
	httpClient, err := rest.HTTPClientFor(cp.Config)
	g.Expect(err).NotTo(HaveOccurred())
	url := fmt.Sprintf("%s/apis/%s/namespaces/%s/stablerings/%s?includeObject=None",
		strings.TrimSuffix(cp.Config.Host, "/"), v1alpha1.GroupVersion.String(), namespace, name)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	g.Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := httpClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK), string(body))
	t := &metav1.Table{}
	g.Expect(json.Unmarshal(body, t)).To(Succeed())
	g.Expect(t.Rows).To(HaveLen(1))
	return t
}

// tableRow returns the StableRing's row of kubectl get -o wide by column name. A value the
// API server could not find is nil, which kubectl shows as <none> or blank.
func tableRow(ctx SpecContext, g Gomega, namespace string) map[string]any {
	t := table(ctx, g, namespace)
	row := map[string]any{}
	for i, c := range t.ColumnDefinitions {
		row[c.Name] = t.Rows[0].Cells[i]
	}
	return row
}

// tableColumns returns the columns of kubectl get without -o wide.
func tableColumns(ctx SpecContext, namespace string) []string {
	GinkgoHelper()
	var names []string
	for _, c := range table(ctx, Default, namespace).ColumnDefinitions {
		if c.Priority == 0 {
			names = append(names, c.Name)
		}
	}
	return names
}

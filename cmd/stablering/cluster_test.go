package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/balancer"
	"github.com/stablering/stablering/controllers"
	"github.com/stablering/stablering/gateway/resolved"
	"github.com/stablering/stablering/test/controlplane"
	"github.com/stablering/stablering/test/nodesim"
)

// liveCluster is a control plane with the StableRing manager running in this process and a
// simulated node, and the ring "chat" over a StatefulSet of three pods in namespace.
type liveCluster struct {
	cp        *controlplane.ControlPlane
	k8s       client.Client
	sim       *nodesim.Simulator
	namespace string
}

const ringName = "chat"

// startLiveCluster starts the cluster and waits until the ring has three Serving members.
func startLiveCluster(t *testing.T) *liveCluster {
	t.Helper()
	if reason := controlplane.SkipReason(); reason != "" {
		t.Skip(reason)
	}
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cp, err := controlplane.Start(ctx, controlplane.Options{CRDPaths: []string{filepath.Join("..", "..", "config", "crd", "bases")}})
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { g.Expect(cp.Stop()).To(Succeed()) })
	scheme, err := controllers.Scheme()
	g.Expect(err).NotTo(HaveOccurred())
	k8s, err := client.New(cp.Config, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())

	sim, err := nodesim.New(cp.Config, nodesim.Options{ReadyDelay: 200 * time.Millisecond, MaxGrace: time.Second, ProbePeriod: 100 * time.Millisecond})
	g.Expect(err).NotTo(HaveOccurred())
	mgr, err := controllers.NewManager(ctx, cp.Config, controllers.ManagerOptions{MetricsBindAddress: "0", HealthProbeBindAddress: "0"})
	g.Expect(err).NotTo(HaveOccurred())
	done := make(chan error, 2)
	go func() { done <- sim.Run(ctx) }()
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		g.Expect(<-done).To(Succeed())
		g.Expect(<-done).To(Succeed())
	})

	c := &liveCluster{cp: cp, k8s: k8s, sim: sim, namespace: "cli"}
	g.Expect(k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: c.namespace}})).To(Succeed())
	labels := map[string]string{"app": ringName}
	g.Expect(k8s.Create(ctx, &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: ringName, Namespace: c.namespace},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To[int32](3),
			ServiceName:         ringName,
			PodManagementPolicy: appsv1.ParallelPodManagement,
			UpdateStrategy:      appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType},
			Selector:            &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr.To[int64](1),
					Containers: []corev1.Container{{
						Name: "chat", Image: "example.com/chat:v1",
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
					}},
				},
			},
		},
	})).To(Succeed())
	g.Expect(k8s.Create(ctx, &v1alpha1.StableRing{
		ObjectMeta: metav1.ObjectMeta{Name: ringName, Namespace: c.namespace},
		Spec: v1alpha1.StableRingSpec{
			StatefulSetName: ringName,
			Port:            intstr.FromString("http"),
			Key:             v1alpha1.KeySpec{Source: v1alpha1.KeySourceQuery, Name: "room"},
			Rollout:         v1alpha1.RolloutSpec{BatchSize: ptr.To(intstr.FromInt32(1)), DrainSeconds: 1},
		},
	})).To(Succeed())
	c.eventually(t, 2*time.Minute, func(g Gomega, sr *resolved.Ring) {
		g.Expect(sr.Status.ReadyMembers).To(BeEquivalentTo(3))
		g.Expect(sr.Status.Rollout).NotTo(BeNil())
		g.Expect(sr.Status.Rollout.Phase).To(Equal(v1alpha1.RolloutComplete))
	})
	return c
}

// eventually waits until check passes on the ring.
func (c *liveCluster) eventually(t *testing.T, timeout time.Duration, check func(Gomega, *resolved.Ring)) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		check(g, c.ring(g))
	}).WithTimeout(timeout).WithPolling(100 * time.Millisecond).Should(Succeed())
}

// ring reads the ring with its members.
func (c *liveCluster) ring(g Gomega) *resolved.Ring {
	sr, members, err := readResolved(context.Background(), c.k8s, client.ObjectKey{Namespace: c.namespace, Name: ringName})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(members.err).NotTo(HaveOccurred())
	return &resolved.Ring{StableRing: sr, Members: members.list}
}

// stablering runs the command line args against the cluster, with -n the ring's namespace, and
// returns its exit code, stdout and stderr.
func (c *liveCluster) stablering(args ...string) (int, string, string) {
	var stdout, stderr strings.Builder
	code := run(append([]string{"--kubeconfig", c.cp.KubeconfigPath, "-n", c.namespace}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// mustRun is stablering for a command that must succeed; it returns stdout.
func (c *liveCluster) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := c.stablering(args...)
	if code != 0 || stderr != "" {
		t.Fatalf("stablering %q = exit %d, stdout %q, stderr %q; want exit 0", args, code, stdout, stderr)
	}
	return stdout
}

// TestClusterCommands runs the commands that read and change the cluster against a real
// control plane, with the controller reconciling the ring they look at.
func TestClusterCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	c := startLiveCluster(t)
	keys := []string{"room-0", "room-1", "room-2", "room-3", "room-4", "room-5", "room-6", "room-7"}
	t.Run("status", func(t *testing.T) { testStatus(t, c) })
	t.Run("lookup", func(t *testing.T) { testLiveLookup(t, c, keys) })
	t.Run("moves", func(t *testing.T) { testMoves(t, c, keys) })
	t.Run("errors", func(t *testing.T) { testClusterErrors(t, c) })
	t.Run("pause restart resume", func(t *testing.T) { testRestart(t, c) })
}

func testStatus(t *testing.T, c *liveCluster) {
	sr := c.ring(NewWithT(t))
	text := c.mustRun(t, "status", ringName)
	for _, want := range []string{
		"StableRing cli/chat: StatefulSet chat, Jump, ring version " + sr.Status.RingVersion + "\n",
		"Members: 3 serving, 3 updated, of 3 replicas\n",
		"Rollout: Complete at revision " + sr.Status.Rollout.UpdateRevision + "\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("status printed:\n%s\nwant a line %q", text, want)
		}
	}
	for _, m := range sr.Members {
		row := regexp.MustCompile(fmt.Sprintf(`(?m)^%d +%s +%s +Serving +%s +\S+$`, m.Ordinal, sr.PodName(m.Ordinal), regexp.QuoteMeta(m.Address), sr.Status.Rollout.UpdateRevision))
		if !row.MatchString(text) {
			t.Errorf("status printed:\n%s\nwant a row for member %d matching %s", text, m.Ordinal, row)
		}
	}
	if !regexp.MustCompile(`(?m)^Ready +True +\S+ +\S+ +.+$`).MatchString(text) {
		t.Errorf("status printed:\n%s\nwant the Ready condition True", text)
	}
	// The whole object, as kubectl get -o prints it.
	var fromJSON, fromYAML v1alpha1.StableRing
	if err := json.Unmarshal([]byte(c.mustRun(t, "status", "cli/chat", "-o", "json")), &fromJSON); err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict([]byte(c.mustRun(t, "status", "-o", "yaml", ringName)), &fromYAML); err != nil {
		t.Fatal(err)
	}
	for _, got := range []v1alpha1.StableRing{fromJSON, fromYAML} {
		if got.Kind != "StableRing" || got.Name != ringName || got.Status.RingVersion != sr.Status.RingVersion ||
			!slices.Equal(got.Status.MemberSlices, sr.Status.MemberSlices) {
			t.Errorf("status -o printed %+v, want the ring", got)
		}
	}
}

// offlineOwners returns what `lookup --replicas 3` prints for keys with the unusable ordinals.
func offlineOwners(t *testing.T, keys []string, unusable ...int32) map[string]int32 {
	t.Helper()
	args := []string{"lookup", "--replicas", "3", "-o", "json"}
	for _, o := range unusable {
		args = append(args, "--unusable", strconv.Itoa(int(o)))
	}
	var stdout, stderr strings.Builder
	if code := run(append(args, keys...), &stdout, &stderr); code != 0 {
		t.Fatalf("offline lookup: exit %d, %s", code, stderr.String())
	}
	var results []lookupResult
	if err := json.Unmarshal([]byte(stdout.String()), &results); err != nil {
		t.Fatal(err)
	}
	owners := map[string]int32{}
	for _, r := range results {
		owners[r.Key] = r.Ordinal
	}
	return owners
}

func liveLookup(t *testing.T, c *liveCluster, keys []string) map[string]liveAnswer {
	t.Helper()
	var answers []liveAnswer
	if err := json.Unmarshal([]byte(c.mustRun(t, append([]string{"lookup", "--ring", "cli/chat", "-o", "json"}, keys...)...)), &answers); err != nil {
		t.Fatal(err)
	}
	byKey := map[string]liveAnswer{}
	for _, a := range answers {
		byKey[a.Key] = a
	}
	return byKey
}

func testLiveLookup(t *testing.T, c *liveCluster, keys []string) {
	g := NewWithT(t)
	sr := c.ring(g)
	owners := offlineOwners(t, keys)
	text := c.mustRun(t, append([]string{"lookup", "--ring", ringName}, keys...)...)
	for _, k := range keys {
		m := sr.Members[owners[k]]
		row := fmt.Sprintf("%s  %d      proxy to %d (%s %s)\n", k, m.Ordinal, m.Ordinal, sr.PodName(m.Ordinal), m.Address)
		g.Expect(text).To(ContainSubstring(row))
	}
	g.Expect(text).To(HavePrefix("KEY     OWNER  ANSWER\n"))

	// Member 1 goes down: the Hold policy holds its rooms, Failover sends them where the offline
	// lookup's failover order says.
	var down []string
	for _, k := range keys {
		if owners[k] == 1 {
			down = append(down, k)
		}
	}
	g.Expect(down).NotTo(BeEmpty())
	g.Expect(c.sim.SetReady(c.namespace, ringName+"-1", false)).To(Succeed())
	c.eventually(t, time.Minute, func(g Gomega, sr *resolved.Ring) {
		g.Expect(sr.Members[1].State).To(Equal(v1alpha1.MemberDown))
	})
	for k, a := range liveLookup(t, c, down) {
		g.Expect(a.Action).To(Equal("hold"), k)
		g.Expect(a.Reason).To(Equal("down"), k)
		g.Expect(*a.Owner).To(BeEquivalentTo(1), k)
		g.Expect(a.RetryAfterSeconds).To(BeNumerically(">", 50), k) // holdSeconds 60 from the transition
	}
	g.Expect(c.mustRun(t, "lookup", "--ring", ringName, down[0])).To(MatchRegexp(`hold: down, retry after \d+s\n$`))
	setPolicy(t, c, v1alpha1.UnavailableFailover)
	failover := offlineOwners(t, down, 1)
	for k, a := range liveLookup(t, c, down) {
		g.Expect(a.Action).To(Equal("proxy"), k)
		g.Expect(a.Reason).To(Equal("failover"), k)
		g.Expect(*a.Member).To(Equal(failover[k]), k)
	}
	g.Expect(c.sim.SetReady(c.namespace, ringName+"-1", true)).To(Succeed())
	setPolicy(t, c, v1alpha1.UnavailableHold)
	c.eventually(t, time.Minute, func(g Gomega, sr *resolved.Ring) {
		g.Expect(sr.Status.ReadyMembers).To(BeEquivalentTo(3))
	})
}

func setPolicy(t *testing.T, c *liveCluster, policy v1alpha1.UnavailablePolicy) {
	t.Helper()
	sr := c.ring(NewWithT(t))
	patch := fmt.Appendf(nil, `{"spec":{"unavailable":{"policy":%q}}}`, policy)
	if err := c.k8s.Patch(context.Background(), sr.StableRing, client.RawPatch("application/merge-patch+json", patch)); err != nil {
		t.Fatal(err)
	}
}

func testMoves(t *testing.T, c *liveCluster, keys []string) {
	g := NewWithT(t)
	file := filepath.Join(t.TempDir(), "keys")
	g.Expect(os.WriteFile(file, []byte(strings.Join(keys, "\n")+"\n\n"), 0o600)).To(Succeed())
	var report movesReport
	g.Expect(json.Unmarshal([]byte(c.mustRun(t, "moves", "--ring", ringName, "--replicas", "4", "--keys-file", file, "-o", "json")), &report)).To(Succeed())

	// The moved keys are those whose Jump owner over 4 members differs from that over 3.
	before, err := balancer.New(balancer.Config{Algorithm: balancer.Jump, Members: []int32{0, 1, 2}})
	g.Expect(err).NotTo(HaveOccurred())
	after, err := balancer.New(balancer.Config{Algorithm: balancer.Jump, Members: []int32{0, 1, 2, 3}})
	g.Expect(err).NotTo(HaveOccurred())
	var want []keyMove
	for _, k := range keys {
		from, _ := before.Owner(k)
		if to, _ := after.Owner(k); to != from {
			want = append(want, keyMove{Key: k, From: from, To: to})
		}
	}
	g.Expect(report.Moves).To(Equal(want))
	g.Expect(report.Moved).To(Equal(len(want)))
	g.Expect(report.Keys).To(Equal(len(keys)))
	g.Expect(report.MembersAfter).To(Equal([]int32{0, 1, 2, 3}))

	// Jump moves a quarter of the keys from 3 members to 4, all to the new member.
	text := c.mustRun(t, "moves", "--ring", ringName, "--replicas", "4")
	g.Expect(text).To(MatchRegexp(`ring cli/chat \(Jump\): 3 members now \[0 1 2\], 4 with the asked replicas\n`))
	g.Expect(text).To(MatchRegexp(`(\d+) of 10000 synthetic keys room-0 \.\. room-9999 move \(2[45]\.\d%\), (\d+) of them to members that are new\n$`))
	m := regexp.MustCompile(`(\d+) of 10000 .* (\d+) of them`).FindStringSubmatch(text)
	g.Expect(m[1]).To(Equal(m[2]))
}

func testClusterErrors(t *testing.T, c *liveCluster) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"status", "nothere"}, 1, `StableRing cli/nothere: stablerings.ring.stablering.io "nothere" not found`},
		{[]string{"status", "a/b/c"}, 2, `ring "a/b/c": name "b/c"`},
		{[]string{"status"}, 2, "want one ring"},
		{[]string{"pause", "Chat"}, 2, `ring "Chat": name "Chat"`},
		{[]string{"lookup", "--ring", ringName, "--replicas", "3", "room"}, 2, "--replicas describes a ring without a cluster"},
		{[]string{"lookup", "--ring", ringName}, 2, "no keys given"},
		{[]string{"moves", "--ring", ringName}, 2, "--replicas must be from 1"},
		{[]string{"moves", "--replicas", "3"}, 2, "--ring is required"},
		{[]string{"moves", "--ring", ringName, "--replicas", "3", "--keys-file", "/nonexistent"}, 2, "no such file"},
		{[]string{"status", ringName, "-o", "wide"}, 2, `-o must be text, yaml or json (got "wide")`},
	} {
		code, stdout, stderr := c.stablering(tc.args...)
		if code != tc.code || stdout != "" || !strings.Contains(stderr, tc.want) {
			t.Errorf("stablering %q = exit %d, stdout %q, stderr %q; want exit %d and stderr with %q", tc.args, code, stdout, stderr, tc.code, tc.want)
		}
	}
}

// testRestart pauses the ring, restarts it (which gives the StatefulSet a new revision, and no
// pod is replaced while paused), resumes it and waits until the controller has replaced every
// pod.
func testRestart(t *testing.T, c *liveCluster) {
	g := NewWithT(t)
	before := c.ring(g)
	pods := &corev1.PodList{}
	g.Expect(c.k8s.List(context.Background(), pods, client.InNamespace(c.namespace))).To(Succeed())
	uids := map[string]string{}
	for _, p := range pods.Items {
		uids[p.Name] = string(p.UID)
	}

	g.Expect(c.mustRun(t, "pause", ringName)).To(Equal("stablering cli/chat paused\n"))
	g.Expect(c.mustRun(t, "pause", "cli/chat")).To(Equal("stablering cli/chat already paused\n"))
	g.Expect(c.ring(g).Spec.Rollout.Paused).To(BeTrue())
	g.Expect(c.mustRun(t, "restart", ringName)).To(Equal("statefulset cli/chat restarted\n"))
	sts := &appsv1.StatefulSet{}
	g.Expect(c.k8s.Get(context.Background(), client.ObjectKey{Namespace: c.namespace, Name: ringName}, sts)).To(Succeed())
	g.Expect(sts.Spec.Template.Annotations).To(HaveKey(restartedAtAnnotation))
	c.eventually(t, time.Minute, func(g Gomega, sr *resolved.Ring) {
		g.Expect(sr.Status.Rollout.UpdateRevision).NotTo(Equal(before.Status.Rollout.UpdateRevision))
		g.Expect(sr.Status.Rollout.Phase).To(Equal(v1alpha1.RolloutPaused))
	})
	g.Expect(c.mustRun(t, "status", ringName)).To(ContainSubstring("\nRollout: Paused, batch 0; revision "))
	g.Consistently(func(g Gomega) {
		g.Expect(c.ring(g).Status.UpdatedMembers).To(BeEquivalentTo(0))
	}).WithTimeout(2 * time.Second).Should(Succeed())

	g.Expect(c.mustRun(t, "resume", ringName)).To(Equal("stablering cli/chat resumed\n"))
	c.eventually(t, 2*time.Minute, func(g Gomega, sr *resolved.Ring) {
		g.Expect(sr.Status.Rollout.Phase).To(Equal(v1alpha1.RolloutComplete))
		g.Expect(sr.Status.UpdatedMembers).To(BeEquivalentTo(3))
		g.Expect(sr.Status.ReadyMembers).To(BeEquivalentTo(3))
		g.Expect(sr.Status.Rollout.Batch).To(BeEquivalentTo(3))
	})
	g.Expect(c.k8s.List(context.Background(), pods, client.InNamespace(c.namespace))).To(Succeed())
	for _, p := range pods.Items {
		g.Expect(uids).To(HaveKey(p.Name))
		g.Expect(string(p.UID)).NotTo(Equal(uids[p.Name]), "pod %s was not replaced", p.Name)
	}
	g.Expect(slices.Sorted(func(yield func(string) bool) {
		for _, p := range pods.Items {
			if !yield(p.Name) {
				return
			}
		}
	})).To(Equal([]string{"chat-0", "chat-1", "chat-2"}))
}

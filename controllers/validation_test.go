package controllers_test

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/stablering/stablering/api/v1alpha1"
)

// validSpec is a minimal valid StableRing spec; the invalid cases change one thing in it.
const validSpec = `
statefulSetName: chat
port: http
key: {source: Query, name: room}
`

var _ = Describe("StableRing validation by the API server", func() {
	var namespace string

	BeforeEach(func(ctx SpecContext) {
		namespace = newNamespace(ctx)
	})

	// create submits a StableRing with spec (YAML) as an unstructured object, so that any value
	// can be sent, and returns the API server's answer.
	create := func(ctx SpecContext, spec string) error {
		GinkgoHelper()
		obj := &unstructured.Unstructured{}
		obj.SetAPIVersion(v1alpha1.GroupVersion.String())
		obj.SetKind("StableRing")
		obj.SetNamespace(namespace)
		obj.SetGenerateName("invalid-")
		var fields map[string]any
		Expect(yaml.Unmarshal([]byte(spec), &fields)).To(Succeed())
		obj.Object["spec"] = fields
		return k8s.Create(ctx, obj)
	}

	DescribeTable("rejects an invalid StableRing with a message that says what to fix",
		func(ctx SpecContext, spec, message string) {
			err := create(ctx, spec)
			Expect(err).To(HaveOccurred())
			Expect(err.Error()).To(ContainSubstring(message))
		},
		Entry("no statefulSetName", `{port: http, key: {source: Query, name: room}}`,
			"spec.statefulSetName: Required value"),
		Entry("a statefulSetName that is not a DNS name", `{statefulSetName: Chat_1, port: http, key: {source: Query, name: room}}`,
			"spec.statefulSetName in body should match"),
		Entry("no port", `{statefulSetName: chat, key: {source: Query, name: room}}`,
			"spec.port: Required value"),
		Entry("port 0", `{statefulSetName: chat, port: 0, key: {source: Query, name: room}}`,
			"port must be a number from 1 to 65535 or a container port name"),
		Entry("port 70000", `{statefulSetName: chat, port: 70000, key: {source: Query, name: room}}`,
			"port must be a number from 1 to 65535 or a container port name"),
		Entry("a port name with capitals", `{statefulSetName: chat, port: HTTP, key: {source: Query, name: room}}`,
			"port must be a number from 1 to 65535 or a container port name"),
		Entry("a port name longer than 15 characters", `{statefulSetName: chat, port: abcdefghijklmnop, key: {source: Query, name: room}}`,
			"port must be a number from 1 to 65535 or a container port name"),
		Entry("an unknown algorithm", validSpec+`hash: {algorithm: md5}`,
			`spec.hash.algorithm: Unsupported value: "md5"`),
		Entry("virtualNodes without Ketama", validSpec+`hash: {algorithm: Jump, virtualNodes: 100}`,
			"virtualNodes applies only to the Ketama algorithm"),
		Entry("zero virtualNodes", validSpec+`hash: {algorithm: Ketama, virtualNodes: 0}`,
			"spec.hash.virtualNodes: Invalid value: 0: spec.hash.virtualNodes in body should be greater than or equal to 1"),
		Entry("no key", `{statefulSetName: chat, port: http}`,
			"spec.key: Required value"),
		Entry("an unknown key source", `{statefulSetName: chat, port: http, key: {source: Body, name: room}}`,
			`spec.key.source: Unsupported value: "Body"`),
		Entry("a Query key without a name", `{statefulSetName: chat, port: http, key: {source: Query}}`,
			"key.name is required when key.source is Header, Query or Cookie"),
		Entry("a key name that is not an HTTP token", `{statefulSetName: chat, port: http, key: {source: Header, name: "room id"}}`,
			"key.name must be a valid HTTP token"),
		Entry("a Path key with a name", `{statefulSetName: chat, port: http, key: {source: Path, name: room, pathSegment: 1}}`,
			"key.name does not apply when key.source is Path"),
		Entry("a Path key without a segment", `{statefulSetName: chat, port: http, key: {source: Path}}`,
			"key.pathSegment is required when key.source is Path"),
		Entry("a segment for a Cookie key", `{statefulSetName: chat, port: http, key: {source: Cookie, name: room, pathSegment: 1}}`,
			"key.pathSegment applies only when key.source is Path"),
		Entry("an uppercase host", validSpec+`route: {hosts: [Chat.Example.com]}`,
			"each host must be a lowercase DNS name"),
		Entry("a wildcard of two labels", validSpec+`route: {hosts: ["*.*.example.com"]}`,
			"each host must be a lowercase DNS name"),
		Entry("a relative path prefix", validSpec+`route: {pathPrefix: chat}`,
			"route.pathPrefix must start with '/'"),
		Entry("an unknown unavailable policy", validSpec+`unavailable: {policy: Retry}`,
			`spec.unavailable.policy: Unsupported value: "Retry"`),
		Entry("negative holdSeconds", validSpec+`unavailable: {holdSeconds: -1}`,
			"spec.unavailable.holdSeconds in body should be greater than or equal to 0"),
		Entry("batchSize 0", validSpec+`rollout: {batchSize: 0}`,
			"rollout.batchSize must be an integer of at least 1 or a percentage from 1% to 100%"),
		Entry("batchSize 0%", validSpec+`rollout: {batchSize: "0%"}`,
			"rollout.batchSize must be an integer of at least 1 or a percentage from 1% to 100%"),
		Entry("batchSize 150%", validSpec+`rollout: {batchSize: "150%"}`,
			"rollout.batchSize must be an integer of at least 1 or a percentage from 1% to 100%"),
		Entry("drainSeconds over an hour", validSpec+`rollout: {drainSeconds: 3601}`,
			"spec.rollout.drainSeconds in body should be less than or equal to 3600"),
		Entry("progressDeadlineSeconds 0", validSpec+`rollout: {progressDeadlineSeconds: 0}`,
			"spec.rollout.progressDeadlineSeconds in body should be greater than or equal to 1"),
		Entry("negative maxConnectsPerSecond", validSpec+`rollout: {maxConnectsPerSecond: -5}`,
			"spec.rollout.maxConnectsPerSecond in body should be greater than or equal to 0"),
		Entry("negative resume maxBufferedBytes", validSpec+`connections: {resume: {maxBufferedBytes: -1}}`,
			"connections.resume.maxBufferedBytes must be from 0 to 16777216 (16 MiB)"),
		Entry("resume maxBufferedBytes over 16 MiB", validSpec+`connections: {resume: {maxBufferedBytes: 16777217}}`,
			"connections.resume.maxBufferedBytes must be from 0 to 16777216 (16 MiB)"),
		Entry("resume maxSeconds 0", validSpec+`connections: {resume: {maxSeconds: 0}}`,
			"connections.resume.maxSeconds must be from 1 to 3600"),
		Entry("resume maxSeconds over an hour", validSpec+`connections: {resume: {maxSeconds: 3601}}`,
			"connections.resume.maxSeconds must be from 1 to 3600"),
	)

	It("fills in resume's bounds when resume is turned on", func(ctx SpecContext) {
		Expect(create(ctx, validSpec+`connections: {resume: {}}`)).To(Succeed())
		list := &v1alpha1.StableRingList{}
		Expect(k8s.List(ctx, list, client.InNamespace(namespace))).To(Succeed())
		Expect(list.Items).To(HaveLen(1))
		Expect(list.Items[0].Spec.Connections).To(Equal(v1alpha1.ConnectionsSpec{
			Resume: &v1alpha1.ResumeSpec{MaxBufferedBytes: 65536, MaxSeconds: 120},
		}))
	}, SpecTimeout(time.Minute))

	It("accepts the sample and fills in the defaults", func(ctx SpecContext) {
		data, err := os.ReadFile(filepath.Join("..", "config", "samples", "ring_v1alpha1_stablering.yaml"))
		Expect(err).NotTo(HaveOccurred())
		sample := &v1alpha1.StableRing{}
		Expect(yaml.UnmarshalStrict(data, sample)).To(Succeed())
		sample.Namespace = namespace
		Expect(k8s.Create(ctx, sample)).To(Succeed())

		Expect(create(ctx, validSpec)).To(Succeed())
		list := &v1alpha1.StableRingList{}
		Expect(k8s.List(ctx, list, client.InNamespace(namespace))).To(Succeed())
		Expect(list.Items).To(HaveLen(2))
		minimal := list.Items[0]
		if minimal.Name == sample.Name {
			minimal = list.Items[1]
		}
		Expect(minimal.Spec).To(Equal(v1alpha1.StableRingSpec{
			StatefulSetName: "chat",
			Port:            intstr.FromString("http"),
			Hash:            v1alpha1.HashSpec{Algorithm: v1alpha1.AlgorithmJump},
			Key:             v1alpha1.KeySpec{Source: v1alpha1.KeySourceQuery, Name: "room"},
			Route:           v1alpha1.RouteSpec{PathPrefix: "/"},
			Unavailable:     v1alpha1.UnavailableSpec{Policy: v1alpha1.UnavailableHold, HoldSeconds: 60},
			Rollout: v1alpha1.RolloutSpec{
				BatchSize:               ptr.To(intstr.FromInt32(1)),
				DrainSeconds:            10,
				PauseSeconds:            0,
				ProgressDeadlineSeconds: 600,
				MaxConnectsPerSecond:    0,
			},
		}))
	}, SpecTimeout(time.Minute))

	It("keeps statefulSetName immutable", func(ctx SpecContext) {
		createRing(ctx, namespace)
		sr := getRing(ctx, Default, namespace)
		sr.Spec.StatefulSetName = "other"
		err := k8s.Update(ctx, sr)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("statefulSetName is immutable; create a new StableRing to use another StatefulSet"))
	}, SpecTimeout(time.Minute))

	It("rejects a StableRing name too long to name its MemberSlices", func(ctx SpecContext) {
		fields := map[string]any{}
		Expect(yaml.Unmarshal([]byte(validSpec), &fields)).To(Succeed())
		obj := &unstructured.Unstructured{Object: map[string]any{"spec": fields}}
		obj.SetAPIVersion(v1alpha1.GroupVersion.String())
		obj.SetKind("StableRing")
		obj.SetNamespace(namespace)
		obj.SetName(strings.Repeat("r", 244))
		err := k8s.Create(ctx, obj)
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("a StableRing's name is at most 243 characters, so that the names of its MemberSlices (<name>-members-<n>) are valid"))

		obj.SetName(strings.Repeat("r", 243))
		Expect(k8s.Create(ctx, obj)).To(Succeed())
	}, SpecTimeout(time.Minute))

	It("rejects a MemberSlice of more than 100 members, or without its ring and version", func(ctx SpecContext) {
		slice := &v1alpha1.MemberSlice{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "chat-members-0"},
			Ring:       "chat", Version: "0123456789abcdef",
		}
		for i := range v1alpha1.MembersPerSlice + 1 {
			slice.Members = append(slice.Members, v1alpha1.Member{Ordinal: int32(i), State: v1alpha1.MemberPending})
		}
		err := k8s.Create(ctx, slice.DeepCopy())
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring("members: Too many: 101: must have at most 100 items"))

		slice.Members = slice.Members[:v1alpha1.MembersPerSlice]
		slice.Ring, slice.Version = "", ""
		err = k8s.Create(ctx, slice.DeepCopy())
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(SatisfyAll(ContainSubstring("ring: Invalid value"), ContainSubstring("version: Invalid value")))

		slice.Ring, slice.Version = "chat", "0123456789abcdef"
		Expect(k8s.Create(ctx, slice)).To(Succeed())
	}, SpecTimeout(time.Minute))
})

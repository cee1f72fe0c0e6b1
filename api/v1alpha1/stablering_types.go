package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The doc comments of the API types and fields below are the descriptions of the CRD's schema,
// which kubectl explain prints. controller-gen keeps the line breaks of a comment in the
// description and kubectl explain prints them as they are, so each paragraph of those comments is
// one line: a comment wrapped at a line break would show up cut mid-sentence.
// TestCRDDescriptions checks the generated CRD for it.

// StableRingSpec is the desired ring: which StatefulSet forms it, how room keys are read from requests and hashed onto its pod ordinals, and how rollouts of the StatefulSet are paced.
type StableRingSpec struct {
	// statefulSetName is the StatefulSet, in the StableRing's namespace, whose pod ordinals are the ring members. It cannot be changed after creation: create a new StableRing instead.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="statefulSetName is immutable; create a new StableRing to use another StatefulSet"
	StatefulSetName string `json:"statefulSetName"`

	// port is the pod port that gateways proxy to, an integer or a string: a port number (1-65535) or the name of a container port of the StatefulSet's pods.
	// +required
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? (self >= 1 && self <= 65535) : self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && self.size() <= 15",message="port must be a number from 1 to 65535 or a container port name (lowercase letters, digits and '-', at most 15 characters)"
	Port intstr.IntOrString `json:"port"`

	// hash selects the consistent-hashing algorithm that maps room keys to ordinals.
	// +optional
	// +kubebuilder:default={}
	Hash HashSpec `json:"hash,omitempty"`

	// key says where gateways read the room key of a request.
	// +required
	Key KeySpec `json:"key"`

	// route says which requests belong to this ring. When several rings match a request, the one with the longest pathPrefix wins.
	// +optional
	// +kubebuilder:default={}
	Route RouteSpec `json:"route,omitempty"`

	// unavailable says what gateways do with the rooms of a member that is down without a planned restart.
	// +optional
	// +kubebuilder:default={}
	Unavailable UnavailableSpec `json:"unavailable,omitempty"`

	// rollout paces updates of the StatefulSet. Pacing needs the StatefulSet to use the OnDelete update strategy; with RollingUpdate the ring is still resolved but pods are not deleted by the controller.
	// +optional
	// +kubebuilder:default={}
	Rollout RolloutSpec `json:"rollout,omitempty"`

	// connections says what gateways do with the open WebSockets of a member that restarts as planned.
	// +optional
	// +kubebuilder:default={}
	Connections ConnectionsSpec `json:"connections,omitempty"`
}

// Algorithm is a consistent-hashing algorithm.
// +kubebuilder:validation:Enum=Jump;Ketama;Maglev;Rendezvous
type Algorithm string

// The supported hashing algorithms.
const (
	// AlgorithmJump is Lamping and Veach's jump consistent hash: perfect balance, no memory.
	AlgorithmJump Algorithm = "Jump"
	// AlgorithmKetama is the crc32 point ring of nginx and resty.chash, for comparison.
	AlgorithmKetama Algorithm = "Ketama"
	// AlgorithmMaglev is Google's Maglev lookup table.
	AlgorithmMaglev Algorithm = "Maglev"
	// AlgorithmRendezvous is highest-random-weight hashing.
	AlgorithmRendezvous Algorithm = "Rendezvous"
)

// HashSpec selects the hashing algorithm and its parameters.
// +kubebuilder:validation:XValidation:rule="!has(self.virtualNodes) || self.algorithm == 'Ketama'",message="virtualNodes applies only to the Ketama algorithm; remove it or set algorithm: Ketama"
type HashSpec struct {
	// algorithm is Jump (default), Ketama, Maglev or Rendezvous.
	// +optional
	// +kubebuilder:default=Jump
	Algorithm Algorithm `json:"algorithm,omitempty"`

	// virtualNodes is the number of points per member on a Ketama ring (default 160, as nginx).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	VirtualNodes *int32 `json:"virtualNodes,omitempty"`
}

// KeySource is the part of a request that holds the room key.
// +kubebuilder:validation:Enum=Header;Query;Cookie;Path
type KeySource string

// The supported key sources.
const (
	// KeySourceHeader reads the key from the request header key.name.
	KeySourceHeader KeySource = "Header"
	// KeySourceQuery reads the key from the query parameter key.name.
	KeySourceQuery KeySource = "Query"
	// KeySourceCookie reads the key from the cookie key.name.
	KeySourceCookie KeySource = "Cookie"
	// KeySourcePath reads the key from path segment key.pathSegment.
	KeySourcePath KeySource = "Path"
)

// KeySpec says where the room key of a request is.
// +kubebuilder:validation:XValidation:rule="self.source == 'Path' || (has(self.name) && size(self.name) > 0)",message="key.name is required when key.source is Header, Query or Cookie"
// +kubebuilder:validation:XValidation:rule="self.source != 'Path' || !has(self.name)",message="key.name does not apply when key.source is Path; use key.pathSegment"
// +kubebuilder:validation:XValidation:rule="self.source == 'Path' || !has(self.pathSegment)",message="key.pathSegment applies only when key.source is Path"
// +kubebuilder:validation:XValidation:rule="self.source != 'Path' || has(self.pathSegment)",message="key.pathSegment is required when key.source is Path (0-based: /rooms/{room}/ws is 1)"
type KeySpec struct {
	// source is Header, Query, Cookie or Path.
	// +required
	Source KeySource `json:"source"`

	// name is the header, query parameter or cookie that holds the key.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="self.matches('^[!#$%&\\'*+.^_`|~0-9A-Za-z-]+$')",message="key.name must be a valid HTTP token (letters, digits and !#$%&'*+-.^_`|~)"
	Name string `json:"name,omitempty"`

	// pathSegment is the 0-based index of the path segment that holds the key, for source Path: in /rooms/{room}/ws the room is segment 1.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=64
	PathSegment *int32 `json:"pathSegment,omitempty"`
}

// RouteSpec says which requests a ring serves.
type RouteSpec struct {
	// hosts are the request hosts this ring serves: DNS names or wildcards such as *.example.com (one label). Empty means any host.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.all(h, h.matches('^(\\\\*\\\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'))",message="each host must be a lowercase DNS name (chat.example.com) or a wildcard of one label (*.example.com)"
	Hosts []string `json:"hosts,omitempty"`

	// pathPrefix is the path prefix this ring serves, matched on segment boundaries.
	// +optional
	// +kubebuilder:default="/"
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="self.startsWith('/')",message="route.pathPrefix must start with '/'"
	PathPrefix string `json:"pathPrefix,omitempty"`
}

// UnavailablePolicy is what gateways do with the rooms of a member that is down unexpectedly.
// +kubebuilder:validation:Enum=Hold;Failover
type UnavailablePolicy string

// The supported unavailable policies.
const (
	// UnavailableHold answers 503 with Retry-After for holdSeconds, then fails over.
	UnavailableHold UnavailablePolicy = "Hold"
	// UnavailableFailover sends the rooms to their next member in failover order at once.
	UnavailableFailover UnavailablePolicy = "Failover"
)

// UnavailableSpec says how gateways treat a member that is down without a planned restart.
type UnavailableSpec struct {
	// policy is Hold (default) or Failover.
	// +optional
	// +kubebuilder:default=Hold
	Policy UnavailablePolicy `json:"policy,omitempty"`

	// holdSeconds is how long a Down member's rooms are held (answered 503 + Retry-After) before they fail over to the next member. Planned restarts are always held.
	// +optional
	// +kubebuilder:default=60
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=86400
	HoldSeconds int32 `json:"holdSeconds,omitempty"`
}

// RolloutSpec paces replacement of outdated pods when the StatefulSet uses OnDelete.
type RolloutSpec struct {
	// batchSize is how many pods are replaced at once, an integer or a string: a number of pods (at least 1) or a percentage of replicas ("25%", rounded down, at least one pod).
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 1 : self.matches('^(100|[1-9][0-9]?)%$')",message="rollout.batchSize must be an integer of at least 1 or a percentage from 1% to 100%"
	BatchSize *intstr.IntOrString `json:"batchSize,omitempty"`

	// drainSeconds is how long a batch's members are Draining before their pods are deleted; gateways spread the members' disconnects over this window.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3600
	DrainSeconds int32 `json:"drainSeconds,omitempty"`

	// pauseSeconds is the settle time after a batch is Ready before the next batch starts.
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=86400
	PauseSeconds int32 `json:"pauseSeconds,omitempty"`

	// progressDeadlineSeconds is how long a batch may take to become Ready before the rollout is Stalled (Degraded=True) and stops deleting pods.
	// +optional
	// +kubebuilder:default=600
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=86400
	ProgressDeadlineSeconds int32 `json:"progressDeadlineSeconds,omitempty"`

	// maxConnectsPerSecond limits new connections per member on each gateway replica, so the reconnect wave after a batch is admitted gradually. 0 means unlimited.
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	MaxConnectsPerSecond int32 `json:"maxConnectsPerSecond,omitempty"`

	// paused stops the rollout after the current batch.
	// +optional
	Paused bool `json:"paused,omitempty"`
}

// ConnectionsSpec says what gateways do with a member's open WebSockets when it restarts as planned (Draining, then Restarting). Without resume they are closed with 1012 and clients reconnect once.
type ConnectionsSpec struct {
	// resume, when set, keeps clients' WebSockets open through their member's planned restart: the gateway closes the member side at a message boundary, buffers the client's messages within the bounds below, and re-opens the WebSocket to the restarted pod with resume headers (StableRing-Resume and the message counts). A member that refuses, bounds exceeded, a member that goes Down and a gateway shutdown close the client as without resume. Absent, connections are not resumed.
	// +optional
	Resume *ResumeSpec `json:"resume,omitempty"`
}

// ResumeSpec bounds what a gateway keeps for each WebSocket it holds open while the member restarts.
type ResumeSpec struct {
	// maxBufferedBytes bounds the bytes of client frames a gateway buffers for one connection while its member restarts; a client that sends more is closed with 1012. The gateway's --resume-buffer-budget bounds the sum over all its connections.
	// +optional
	// +kubebuilder:default=65536
	// +kubebuilder:validation:XValidation:rule="self >= 0 && self <= 16777216",message="connections.resume.maxBufferedBytes must be from 0 to 16777216 (16 MiB)"
	MaxBufferedBytes int32 `json:"maxBufferedBytes,omitempty"`

	// maxSeconds bounds how long a gateway holds a connection open without its member, from the close of the member side until the restarted member accepts the resume; past it the client is closed with 1012. It should cover the drain, the pod's termination and its start.
	// +optional
	// +kubebuilder:default=120
	// +kubebuilder:validation:XValidation:rule="self >= 1 && self <= 3600",message="connections.resume.maxSeconds must be from 1 to 3600"
	MaxSeconds int32 `json:"maxSeconds,omitempty"`
}

// MaxMembers is the most members a ring holds, in at most MaxMemberSlices MemberSlices of
// MembersPerSlice members. At 2,000 members with long names and IPv6 addresses a MemberSlice is
// at most about 14 KiB, and the StableRing about 136 KiB in a batch of every member (a few KiB
// with small batches), far under etcd's 1.5 MiB limit on one object: see
// TestObjectSizesAtMaxMembers in controllers/ring.
const MaxMembers int32 = 2000

// MemberState is the routing state of a ring member.
// +kubebuilder:validation:Enum=Pending;Serving;Draining;Restarting;Down
type MemberState string

// The member states.
const (
	// MemberPending has never been Ready: it is not on the ring yet.
	MemberPending MemberState = "Pending"
	// MemberServing is Ready and takes its rooms.
	MemberServing MemberState = "Serving"
	// MemberDraining is in the current rollout batch and still up; gateways close its connections gradually and hold new ones.
	MemberDraining MemberState = "Draining"
	// MemberRestarting is a planned restart: deleted, or not yet Ready at the new revision.
	MemberRestarting MemberState = "Restarting"
	// MemberDown is an unplanned loss: not Ready, outside a rollout batch.
	MemberDown MemberState = "Down"
)

// Member is one ordinal of the ring as resolved by the controller. It holds what gateways route by and when the member entered its state, no more: its pod is the StatefulSet name, a dash and the ordinal (web-3 for ordinal 3 of StatefulSet web), and the pod's revision is its controller-revision-hash label.
type Member struct {
	// ordinal is the StatefulSet pod ordinal: the member's identity on the ring.
	Ordinal int32 `json:"ordinal"`
	// address is podIP:port of the current pod; empty while it has no IP.
	// +optional
	Address string `json:"address,omitempty"`
	// state is Pending, Serving, Draining, Restarting or Down.
	State MemberState `json:"state"`
	// lastTransitionTime is when the member entered its state.
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`
}

// RolloutPhase summarises the controller's rollout work.
// +kubebuilder:validation:Enum=Complete;Progressing;Paused;Stalled;Disabled
type RolloutPhase string

// The rollout phases.
const (
	// RolloutComplete: every member runs the update revision.
	RolloutComplete RolloutPhase = "Complete"
	// RolloutProgressing: a batch is being replaced or the next one is due.
	RolloutProgressing RolloutPhase = "Progressing"
	// RolloutPaused: spec.rollout.paused stopped the rollout after a batch.
	RolloutPaused RolloutPhase = "Paused"
	// RolloutStalled: a batch missed its progress deadline; no pods are deleted until the spec or the StatefulSet changes.
	RolloutStalled RolloutPhase = "Stalled"
	// RolloutDisabled: the StatefulSet does not use OnDelete, so the controller does not pace.
	RolloutDisabled RolloutPhase = "Disabled"
)

// BatchStep is where the current batch is.
// +kubebuilder:validation:Enum=Draining;Restarting;Settling
type BatchStep string

// The batch steps, in order.
const (
	// BatchDraining: members are Draining, their pods not deleted yet.
	BatchDraining BatchStep = "Draining"
	// BatchRestarting: pods deleted, waiting for Ready at the update revision.
	BatchRestarting BatchStep = "Restarting"
	// BatchSettling: all Ready; waiting pauseSeconds before the next batch.
	BatchSettling BatchStep = "Settling"
)

// DeletedPod records a pod the controller deleted, so a restarted controller never deletes the same member twice for one batch.
type DeletedPod struct {
	// ordinal of the member.
	Ordinal int32 `json:"ordinal"`
	// uid of the deleted pod.
	UID string `json:"uid"`
}

// RolloutStatus is the rollout progress. All of it lives here so a restarted controller resumes where the previous one stopped.
type RolloutStatus struct {
	// phase is Complete, Progressing, Paused, Stalled or Disabled.
	Phase RolloutPhase `json:"phase"`
	// currentRevision is the StatefulSet's current revision.
	// +optional
	CurrentRevision string `json:"currentRevision,omitempty"`
	// updateRevision is the revision the rollout moves members to.
	// +optional
	UpdateRevision string `json:"updateRevision,omitempty"`
	// batch counts the batches of this rollout, from 1; 0 before the first. It is always written, so that kubectl get shows 0 rather than nothing.
	// +optional
	Batch int32 `json:"batch"`
	// batchMembers are the ordinals of the current batch, highest first.
	// +optional
	// +kubebuilder:validation:MaxItems=2000
	// +listType=atomic
	BatchMembers []int32 `json:"batchMembers,omitempty"`
	// step is where the current batch is: Draining, Restarting or Settling.
	// +optional
	Step BatchStep `json:"step,omitempty"`
	// batchStartTime is when the current batch started draining.
	// +optional
	BatchStartTime *metav1.Time `json:"batchStartTime,omitempty"`
	// stepStartTime is when the current step began.
	// +optional
	StepStartTime *metav1.Time `json:"stepStartTime,omitempty"`
	// deletedPods are the pods deleted for the current batch.
	// +optional
	// +kubebuilder:validation:MaxItems=2000
	// +listType=atomic
	DeletedPods []DeletedPod `json:"deletedPods,omitempty"`
}

// StableRingStatus is the resolved ring that gateways route by, and the rollout progress.
type StableRingStatus struct {
	// observedGeneration is the spec generation this status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// replicas is the StatefulSet's desired replica count, at most 2000 (MaxMembers). The counts are always written, so that kubectl get shows 0 rather than nothing.
	// +optional
	Replicas int32 `json:"replicas"`
	// readyMembers counts members that are Serving.
	// +optional
	ReadyMembers int32 `json:"readyMembers"`
	// updatedMembers counts members whose pod runs the update revision.
	// +optional
	UpdatedMembers int32 `json:"updatedMembers"`
	// ordinalsStart is the StatefulSet's first ordinal (spec.ordinals.start).
	// +optional
	OrdinalsStart int32 `json:"ordinalsStart,omitempty"`
	// hash is the algorithm and parameters the ring was resolved with; gateways route by it, not by spec, so every gateway switches together with ringVersion.
	// +optional
	Hash *HashSpec `json:"hash,omitempty"`
	// ringVersion fingerprints everything a gateway routes by (hash, ordinalsStart, members, states and addresses). It changes exactly when routing could change.
	// +optional
	RingVersion string `json:"ringVersion,omitempty"`
	// memberSlices name the MemberSlices that hold the ring's members, in ordinal order, each with the version this status was resolved with. The members are the ordinals from ordinalsStart to ordinalsStart+replicas-1, at most 2000 (MaxMembers): a StatefulSet with more replicas has the first 2000 in the ring and is Degraded (TooManyMembers). Gateways route by the members only once they have every slice at the version named here.
	// +optional
	// +kubebuilder:validation:MaxItems=20
	// +listType=atomic
	MemberSlices []MemberSliceRef `json:"memberSlices,omitempty"`
	// rollout is the progress of the current rollout.
	// +optional
	Rollout *RolloutStatus `json:"rollout,omitempty"`
	// conditions are Ready, Progressing and Degraded.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Condition types of a StableRing.
const (
	// ConditionReady is True when every joined member is Serving and has an address.
	ConditionReady = "Ready"
	// ConditionProgressing is True while a rollout is under way.
	ConditionProgressing = "Progressing"
	// ConditionDegraded is True when the ring cannot be kept as asked: the StatefulSet is missing, pacing is impossible or slowed (RollingUpdate, or OrderedReady with batches of more than one), a batch stalled, members are Down, or spec.port is not a port of the pods.
	ConditionDegraded = "Degraded"
)

// StableRing maps a StatefulSet's pod ordinals to a consistent-hash ring of room keys, so every connection of a room reaches the same pod through restarts, rollouts and scaling.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sr
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 243",message="a StableRing's name is at most 243 characters, so that the names of its MemberSlices (<name>-members-<n>) are valid"
// +kubebuilder:printcolumn:name="Ready",type=integer,JSONPath=`.status.readyMembers`,description="Members Serving"
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.status.replicas`,description="StatefulSet replicas"
// +kubebuilder:printcolumn:name="Updated",type=integer,JSONPath=`.status.updatedMembers`,description="Members at the update revision"
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.rollout.phase`,description="Rollout phase"
// +kubebuilder:printcolumn:name="Batch",type=integer,JSONPath=`.status.rollout.batch`,description="Batch of the current (or last) rollout"
// +kubebuilder:printcolumn:name="Step",type=string,JSONPath=`.status.rollout.step`,priority=1,description="Where the current batch is: Draining, Restarting or Settling"
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,description="Reason of the Ready condition"
// +kubebuilder:printcolumn:name="Degraded",type=string,JSONPath=`.status.conditions[?(@.type=="Degraded")].reason`,priority=1,description="Reason of the Degraded condition"
// +kubebuilder:printcolumn:name="Algorithm",type=string,JSONPath=`.spec.hash.algorithm`
// +kubebuilder:printcolumn:name="Ring",type=string,JSONPath=`.status.ringVersion`,priority=1,description="Ring version gateways route by"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type StableRing struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired ring.
	// +required
	Spec StableRingSpec `json:"spec"`
	// status is the resolved ring, written by the controller.
	// +optional
	Status StableRingStatus `json:"status,omitempty"`
}

// StableRingList is a list of StableRings.
//
// +kubebuilder:object:root=true
type StableRingList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []StableRing `json:"items"`
}

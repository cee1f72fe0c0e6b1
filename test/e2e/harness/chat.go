package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/gateway/resolved"
)

// App names a chat StatefulSet and its StableRing, which share the name.
type App struct {
	Namespace, Name string
}

// Key is the object key of the StatefulSet and the StableRing.
func (a App) Key() client.ObjectKey { return client.ObjectKey{Namespace: a.Namespace, Name: a.Name} }

// Selector is the label selector of the app's pods.
func (a App) Selector() map[string]string {
	return map[string]string{"app.kubernetes.io/name": a.Name}
}

// chatStatefulSet is the chat StatefulSet users get (examples/chat/deploy/statefulset.yaml) as
// app, with replicas pods of the node's chat image and the variable TriggerRollout changes. Its
// probes wait up to 3 s for an answer and turn a pod unready after 3 failures, not 1 s and 2: a
// 2-core machine under the suites' load must not make pods flap.
func (c *Cluster) chatStatefulSet(app App, replicas int32, o RingOptions) (*appsv1.StatefulSet, error) {
	objs, err := readObjects(filepath.Join(c.Root, "examples", "chat", "deploy", "statefulset.yaml"))
	if err != nil {
		return nil, err
	}
	if len(objs) != 1 || objs[0].GetKind() != "StatefulSet" {
		return nil, fmt.Errorf("examples/chat/deploy/statefulset.yaml: want one StatefulSet")
	}
	sts := &appsv1.StatefulSet{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(objs[0].Object, sts); err != nil {
		return nil, err
	}
	labels := app.Selector()
	sts.Namespace, sts.Name, sts.Labels = app.Namespace, app.Name, labels
	sts.Spec.Replicas, sts.Spec.ServiceName = &replicas, app.Name
	sts.Spec.Selector = &metav1.LabelSelector{MatchLabels: labels}
	sts.Spec.Template.Labels = labels
	ctr := &sts.Spec.Template.Spec.Containers[0]
	ctr.Image = c.chatImage
	ctr.Env = append(ctr.Env, corev1.EnvVar{Name: RolloutEnv, Value: "0"})
	for _, p := range []*corev1.Probe{ctr.ReadinessProbe, ctr.LivenessProbe} {
		if p != nil {
			p.TimeoutSeconds, p.FailureThreshold = 3, 3
		}
	}
	if o.StateDir != "" {
		const mount = "/var/lib/chat"
		ctr.Args = append(ctr.Args, "--state-dir="+mount)
		ctr.VolumeMounts = append(ctr.VolumeMounts, corev1.VolumeMount{Name: "state", MountPath: mount})
		dir := corev1.HostPathDirectory
		sts.Spec.Template.Spec.Volumes = append(sts.Spec.Template.Spec.Volumes, corev1.Volume{Name: "state",
			VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: o.StateDir, Type: &dir}}})
	}
	return sts, nil
}

// ChatStateDir makes a directory of this machine, where the chat pods of a real node can keep
// their rooms across restarts (RingOptions.StateDir), and returns it with the function that
// removes it.
func ChatStateDir() (string, func(), error) {
	dir, err := os.MkdirTemp("", "stablering-chat-state-")
	if err != nil {
		return "", nil, err
	}
	remove := func() { _ = os.RemoveAll(dir) }
	if err := os.Chmod(dir, 0o777); err != nil { // the chat runs as a user of its own
		remove()
		return "", nil, err
	}
	return dir, remove, nil
}

// ResumeOptions are the resume settings of the scenarios and the demo: resume on, with the
// bounds the API server defaults.
func ResumeOptions() *v1alpha1.ResumeSpec { return &v1alpha1.ResumeSpec{} }

// RingOptions are the StableRing settings the scenarios vary.
type RingOptions struct {
	BatchSize            int
	DrainSeconds         int32
	PauseSeconds         int32
	HoldSeconds          int32
	MaxConnectsPerSecond int32
	// Hosts restricts the ring to these Host headers; empty routes any host.
	Hosts []string
	// Resume turns on spec.connections.resume.
	Resume *v1alpha1.ResumeSpec
	// StateDir is a directory of the node, writable by the chat's user, where the chat pods
	// keep their rooms across restarts (--state-dir), for resumed connections; empty for none.
	StateDir string
}

// StableRingFor returns the StableRing of app: rooms from the "room" query parameter, port
// "http", Jump hashing, the Hold policy.
func StableRingFor(app App, o RingOptions) *v1alpha1.StableRing {
	batch := intstr.FromInt(o.BatchSize)
	return &v1alpha1.StableRing{
		ObjectMeta: metav1.ObjectMeta{Namespace: app.Namespace, Name: app.Name},
		Spec: v1alpha1.StableRingSpec{
			StatefulSetName: app.Name,
			Port:            intstr.FromString("http"),
			Hash:            v1alpha1.HashSpec{Algorithm: v1alpha1.AlgorithmJump},
			Key:             v1alpha1.KeySpec{Source: v1alpha1.KeySourceQuery, Name: "room"},
			Route:           v1alpha1.RouteSpec{Hosts: o.Hosts, PathPrefix: "/"},
			Unavailable:     v1alpha1.UnavailableSpec{Policy: v1alpha1.UnavailableHold, HoldSeconds: o.HoldSeconds},
			Rollout: v1alpha1.RolloutSpec{
				BatchSize:               &batch,
				DrainSeconds:            o.DrainSeconds,
				PauseSeconds:            o.PauseSeconds,
				ProgressDeadlineSeconds: 300,
				MaxConnectsPerSecond:    o.MaxConnectsPerSecond,
			},
			Connections: v1alpha1.ConnectionsSpec{Resume: o.Resume},
		},
	}
}

// DeployChat creates app's namespace, its chat StatefulSet and its StableRing, and waits until
// the ring is Ready with every pod Serving.
func (c *Cluster) DeployChat(ctx context.Context, app App, replicas int32, o RingOptions) error {
	c.progress("deploying StatefulSet %s/%s (%d replicas, OnDelete) and its StableRing (batchSize %d)", app.Namespace, app.Name, replicas, o.BatchSize)
	if err := c.EnsureNamespace(ctx, app.Namespace); err != nil {
		return err
	}
	sts, err := c.chatStatefulSet(app, replicas, o)
	if err != nil {
		return err
	}
	if err := c.Client.Create(ctx, sts); err != nil {
		return err
	}
	if err := c.Client.Create(ctx, StableRingFor(app, o)); err != nil {
		return err
	}
	return c.WaitRingServing(ctx, app, replicas, 2*time.Minute)
}

// DeleteChat deletes app's StableRing and StatefulSet; the garbage collector deletes its pods.
func (c *Cluster) DeleteChat(ctx context.Context, app App) error {
	sr := &v1alpha1.StableRing{ObjectMeta: metav1.ObjectMeta{Namespace: app.Namespace, Name: app.Name}}
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: app.Namespace, Name: app.Name}}
	return errorsJoin(
		client.IgnoreNotFound(c.Client.Delete(ctx, sr)),
		client.IgnoreNotFound(c.Client.Delete(ctx, sts, client.PropagationPolicy(metav1.DeletePropagationBackground))),
	)
}

// Ring returns app's StableRing with its members. It fails when its MemberSlices are not those
// its status names, as when it is read between the controller's writes of a slice and of the
// status that names it.
func (c *Cluster) Ring(ctx context.Context, app App) (*resolved.Ring, error) {
	sr := &v1alpha1.StableRing{}
	if err := c.Client.Get(ctx, app.Key(), sr); err != nil {
		return nil, err
	}
	return withMembers(ctx, c.Client, sr)
}

// withMembers returns sr with its members, assembled from the MemberSlices of its namespace.
func withMembers(ctx context.Context, cl client.Reader, sr *v1alpha1.StableRing) (*resolved.Ring, error) {
	slices := &v1alpha1.MemberSliceList{}
	if err := cl.List(ctx, slices, client.InNamespace(sr.Namespace)); err != nil {
		return nil, err
	}
	rings, err := resolved.Assemble([]v1alpha1.StableRing{*sr}, slices.Items)
	if err != nil {
		return nil, err
	}
	return &rings[0], nil
}

// WaitRingServing waits until app's StableRing has observed its spec and is Ready with
// replicas members, all Serving, and no rollout in progress.
func (c *Cluster) WaitRingServing(ctx context.Context, app App, replicas int32, timeout time.Duration) error {
	var last string
	err := poll(ctx, timeout, func() (bool, error) {
		sr, err := c.Ring(ctx, app)
		if err != nil {
			return false, err
		}
		last = FormatRing(sr)
		st := sr.Status
		if st.ObservedGeneration != sr.Generation || st.ReadyMembers != replicas || int32(len(sr.Members)) != replicas ||
			!conditionTrue(st.Conditions, v1alpha1.ConditionReady) {
			return false, nil
		}
		for _, m := range sr.Members {
			if m.State != v1alpha1.MemberServing {
				return false, nil
			}
		}
		return st.Rollout == nil || st.Rollout.Phase != v1alpha1.RolloutProgressing, nil
	})
	if err != nil {
		return fmt.Errorf("StableRing %s/%s not Ready with %d Serving members (last: %s): %w", app.Namespace, app.Name, replicas, last, err)
	}
	return nil
}

func conditionTrue(conds []metav1.Condition, t string) bool {
	for _, c := range conds {
		if c.Type == t {
			return c.Status == metav1.ConditionTrue
		}
	}
	return false
}

// TriggerRollout changes the chat container's ROLLOUT variable to value: a new revision of the
// pod template, which the StatefulSet on OnDelete leaves to StableRing to roll out.
func (c *Cluster) TriggerRollout(ctx context.Context, app App, value string) error {
	patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"chat","env":[{"name":%q,"value":%q}]}]}}}}`, RolloutEnv, value)
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: app.Namespace, Name: app.Name}}
	return c.Client.Patch(ctx, sts, client.RawPatch(types.StrategicMergePatchType, []byte(patch)))
}

// Scale sets the StatefulSet's replicas.
func (c *Cluster) Scale(ctx context.Context, app App, replicas int32) error {
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas)
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: app.Namespace, Name: app.Name}}
	return c.Client.Patch(ctx, sts, client.RawPatch(types.MergePatchType, []byte(patch)))
}

// WaitRolloutComplete waits until the StatefulSet's update revision is what every member runs
// and the StableRing reports the rollout Complete with every member Serving.
func (c *Cluster) WaitRolloutComplete(ctx context.Context, app App, replicas int32, timeout time.Duration) error {
	var last string
	err := poll(ctx, timeout, func() (bool, error) {
		sts := &appsv1.StatefulSet{}
		if err := c.Client.Get(ctx, app.Key(), sts); err != nil {
			return false, err
		}
		sr, err := c.Ring(ctx, app)
		if err != nil {
			return false, err
		}
		last = FormatRing(sr)
		st := sr.Status
		if sts.Status.ObservedGeneration != sts.Generation || sts.Status.UpdateRevision == "" || st.ObservedGeneration != sr.Generation ||
			st.Rollout == nil || st.Rollout.Phase != v1alpha1.RolloutComplete || st.Rollout.UpdateRevision != sts.Status.UpdateRevision ||
			st.UpdatedMembers != replicas || st.ReadyMembers != replicas {
			return false, nil
		}
		for _, m := range sr.Members {
			if m.State != v1alpha1.MemberServing {
				return false, nil
			}
		}
		// Every pod runs the update revision (status.updatedMembers counts them too; this
		// checks the pods themselves).
		pods := &corev1.PodList{}
		if err := c.Client.List(ctx, pods, client.InNamespace(app.Namespace), client.MatchingLabels(app.Selector())); err != nil {
			return false, err
		}
		for _, p := range pods.Items {
			if p.Labels[appsv1.ControllerRevisionHashLabelKey] != sts.Status.UpdateRevision {
				return false, nil
			}
		}
		return len(pods.Items) == int(replicas), nil
	})
	if err != nil {
		return fmt.Errorf("rollout of %s/%s not complete (last: %s): %w", app.Namespace, app.Name, last, err)
	}
	return nil
}

// ChatPods returns app's Ready, not terminating pods, sorted by name.
func (c *Cluster) ChatPods(ctx context.Context, app App) ([]corev1.Pod, error) {
	return c.readyPods(ctx, app.Namespace, app.Selector())
}

// RoomPlacement asks every Ready chat pod of app for its rooms (GET /rooms) and returns, by
// room, the pods that hold members of it.
func (c *Cluster) RoomPlacement(ctx context.Context, app App) (map[string][]string, error) {
	pods, err := c.ChatPods(ctx, app)
	if err != nil {
		return nil, err
	}
	placement := map[string][]string{}
	for _, p := range pods {
		var list struct {
			Pod   string `json:"pod"`
			Rooms []struct {
				Room    string `json:"room"`
				Members int    `json:"members"`
			} `json:"rooms"`
		}
		if err := getJSON(ctx, fmt.Sprintf("http://%s:%d/rooms", p.Status.PodIP, ChatPort), &list); err != nil {
			return nil, fmt.Errorf("rooms of %s: %w", p.Name, err)
		}
		for _, r := range list.Rooms {
			if r.Members > 0 {
				placement[r.Room] = append(placement[r.Room], list.Pod)
			}
		}
	}
	return placement, nil
}

func getJSON(ctx context.Context, url string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

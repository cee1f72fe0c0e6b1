package nodesim

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// ProcessOptions configure a ProcessRuntime. The zero value runs no pod as processes.
type ProcessOptions struct {
	// Images maps container images to the local executables that stand in for them. A
	// container's image matches the entry of the same reference (e.g. stablering/chat:dev) or,
	// failing that, the entries of the same repository with any tag or digest, if they all have
	// the same executable: stablering/chat:v2 runs the executable of stablering/chat:dev, so
	// rolling out a new tag keeps running the same program, while mapping chat:v1 and chat:v2
	// to two builds rolls out from one to the other.
	Images map[string]string
	// LogDir receives each container's stdout and stderr in <namespace>_<pod>_<container>.log,
	// appended to across restarts and recreations of the pod; default $TMPDIR/nodesim-logs.
	LogDir string
	// Kubeconfig, if set, is given to the processes as $KUBECONFIG, the API access a pod gets
	// from its service account token (client-go and controller-runtime read it).
	Kubeconfig string
	// ServiceAccountKubeconfig, if set, returns the kubeconfig of a service account instead, so
	// a process has the RBAC permissions of its pod's service account (see
	// controlplane.ControlPlane.ImpersonatingKubeconfig).
	ServiceAccountKubeconfig func(namespace, serviceAccount string) (string, error)
	// Client reads the ConfigMaps and Secrets that containers take environment variables
	// from; without one, a pod referring to any does not start.
	Client kubernetes.Interface
	// RestartBackoff is how long an exited process waits to be restarted; the delay doubles with
	// each exit in a row, up to 32 times this. Default 1s.
	RestartBackoff time.Duration
	// Log receives the runtime's log; the zero value discards it.
	Log logr.Logger
}

// ProcessRuntime runs a pod's containers whose image is in its Images as local processes, like
// a kubelet would run them in containers:
//
//   - argv is the executable followed by the container's command (whose first element names
//     the image's entrypoint and is replaced by the executable) and args, with $(VAR)
//     references expanded;
//   - the environment holds PATH, HOME (the working directory), KUBECONFIG if the pod gets API
//     credentials (not when automountServiceAccountToken is false) and the container's env and
//     envFrom, with the downward API's fieldRefs; not POD_IP or anything else the pod does not
//     declare. resourceFieldRefs are left out, with a log line;
//   - the working directory is a new temporary directory per pod, removed when it stops;
//   - each process leads a process group of its own and dies with the simulator (on Linux);
//   - the pod is ready when every process runs and passes its HTTP or TCP readiness probe
//     (exec and gRPC probes are not run; periodSeconds gives way to the simulator's ProbePeriod);
//   - a process that exits is restarted with backoff, whatever the restartPolicy, and the pod
//     reports the restart counts and last terminations (it is a ContainerReporter);
//   - stopping sends SIGTERM to each process group, and SIGKILL after the grace period;
//     preStop hooks are not run.
//
// Containers of other images run nothing, and a pod with no container of a known image runs as
// with IdleRuntime, so known and other images can be mixed. Processes share the host's network:
// one that listens on a port of all addresses (e.g. ":8080") rather than its pod's IP takes
// that port from every pod.
type ProcessRuntime struct {
	opts   ProcessOptions
	byRepo map[string]string // executables by image repository
	env    envResolver
	prober *prober

	mu   sync.Mutex
	pods map[types.UID]*processPod
}

var (
	_ Runtime           = (*ProcessRuntime)(nil)
	_ ContainerReporter = (*ProcessRuntime)(nil)
)

// NewProcessRuntime returns a runtime configured by opts, creating its LogDir.
func NewProcessRuntime(opts ProcessOptions) (*ProcessRuntime, error) {
	if opts.LogDir == "" {
		opts.LogDir = filepath.Join(os.TempDir(), "nodesim-logs")
	}
	if opts.RestartBackoff <= 0 {
		opts.RestartBackoff = time.Second
	}
	if err := os.MkdirAll(opts.LogDir, 0o755); err != nil {
		return nil, err
	}
	opts.Images = maps.Clone(opts.Images)
	return &ProcessRuntime{
		opts:   opts,
		byRepo: imagesByRepository(opts.Images),
		env:    envResolver{client: opts.Client, log: opts.Log},
		prober: newProber(),
		pods:   map[types.UID]*processPod{},
	}, nil
}

// imagesByRepository maps the repositories of images to their executables, leaving out those
// whose images have different executables.
func imagesByRepository(images map[string]string) map[string]string {
	byRepo := map[string]string{}
	ambiguous := map[string]bool{}
	for image, exe := range images {
		repo := repository(image)
		if other, ok := byRepo[repo]; ok && other != exe {
			ambiguous[repo] = true
		}
		byRepo[repo] = exe
	}
	for repo := range ambiguous {
		delete(byRepo, repo)
	}
	return byRepo
}

// repository returns image without its tag and digest.
func repository(image string) string {
	image, _, _ = strings.Cut(image, "@")
	if i := strings.LastIndexByte(image, ':'); i > strings.LastIndexByte(image, '/') {
		return image[:i]
	}
	return image
}

// executable returns the executable that stands in for image, if any.
func (r *ProcessRuntime) executable(image string) (string, bool) {
	if exe, ok := r.opts.Images[image]; ok {
		return exe, true
	}
	exe, ok := r.byRepo[repository(image)]
	return exe, ok
}

// LogPath returns the file that receives the output of the named container of pod.
func (r *ProcessRuntime) LogPath(namespace, pod, container string) string {
	return filepath.Join(r.opts.LogDir, fmt.Sprintf("%s_%s_%s.log", namespace, pod, container))
}

// Start starts a process for each container of pod whose image is known, in a new working
// directory. A pod with no such container runs nothing, as with IdleRuntime.
func (r *ProcessRuntime) Start(ctx context.Context, pod *corev1.Pod, ip string) error {
	if r.pod(pod.UID) != nil {
		return nil
	}
	p, err := r.startPod(ctx, pod, ip)
	if err != nil || p == nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pods[pod.UID] = p
	return nil
}

// Ready reports whether every process of pod runs and is ready.
func (r *ProcessRuntime) Ready(ctx context.Context, pod *corev1.Pod, ip string) bool {
	p := r.pod(pod.UID)
	if p == nil {
		return IdleRuntime{}.Ready(ctx, pod, ip)
	}
	return p.ready(ctx, r.prober, ip)
}

// Stop stops the processes of pod, giving them grace to exit after SIGTERM, and removes its
// working directory.
func (r *ProcessRuntime) Stop(ctx context.Context, pod *corev1.Pod, grace time.Duration) error {
	r.mu.Lock()
	p := r.pods[pod.UID]
	delete(r.pods, pod.UID)
	r.mu.Unlock()
	if p == nil {
		return IdleRuntime{}.Stop(ctx, pod, grace)
	}
	return p.stop(ctx, grace)
}

// Containers returns the states of the containers of pod that run as processes.
func (r *ProcessRuntime) Containers(pod *corev1.Pod) map[string]ContainerStatus {
	p := r.pod(pod.UID)
	if p == nil {
		return nil
	}
	states := make(map[string]ContainerStatus, len(p.containers))
	for _, c := range p.containers {
		states[c.spec.Name] = c.state()
	}
	return states
}

func (r *ProcessRuntime) pod(uid types.UID) *processPod {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pods[uid]
}

// runsProcesses reports whether a container of pod has a known image.
func (r *ProcessRuntime) runsProcesses(pod *corev1.Pod) bool {
	return slices.ContainsFunc(pod.Spec.Containers, func(c corev1.Container) bool {
		_, ok := r.executable(c.Image)
		return ok
	})
}

// startPod starts the processes of pod in a new working directory; it returns nil if pod runs
// none.
func (r *ProcessRuntime) startPod(ctx context.Context, pod *corev1.Pod, ip string) (*processPod, error) {
	if !r.runsProcesses(pod) {
		return nil, nil
	}
	dir, err := os.MkdirTemp("", fmt.Sprintf("nodesim-%s_%s-", pod.Namespace, pod.Name))
	if err != nil {
		return nil, err
	}
	p := &processPod{dir: dir}
	if err := r.startContainers(ctx, pod, ip, p); err != nil {
		return nil, errors.Join(err, p.stop(ctx, 0))
	}
	return p, nil
}

// startContainers starts the processes of the containers of pod with a known image and adds
// them to p.
func (r *ProcessRuntime) startContainers(ctx context.Context, pod *corev1.Pod, ip string, p *processPod) error {
	var err error
	if p.env, err = r.baseEnv(pod, p.dir); err != nil {
		return err
	}
	for i := range pod.Spec.Containers {
		spec := &pod.Spec.Containers[i]
		exe, ok := r.executable(spec.Image)
		if !ok {
			continue
		}
		c, err := r.newContainer(ctx, pod, p, spec, exe, ip)
		if err == nil {
			err = c.start()
		}
		if err != nil {
			return fmt.Errorf("container %s: %w", spec.Name, err)
		}
		p.containers = append(p.containers, c)
	}
	return nil
}

// baseEnv is the environment the processes of pod, running in dir, start from: the simulator's
// PATH, HOME set to dir (so that nothing falls back on the user's files, ~/.kube/config among
// them) and KUBECONFIG if the pod gets API credentials.
func (r *ProcessRuntime) baseEnv(pod *corev1.Pod, dir string) ([]string, error) {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	kubeconfig, err := r.kubeconfig(pod)
	if kubeconfig != "" {
		env = append(env, "KUBECONFIG="+kubeconfig)
	}
	return env, err
}

// kubeconfig returns the kubeconfig that gives the processes of pod API access: that of the
// pod's service account if ServiceAccountKubeconfig is set, else Kubeconfig; none if the pod
// opts out of a service account token.
func (r *ProcessRuntime) kubeconfig(pod *corev1.Pod) (string, error) {
	switch {
	case !ptr.Deref(pod.Spec.AutomountServiceAccountToken, true):
		return "", nil
	case r.opts.ServiceAccountKubeconfig != nil:
		kubeconfig, err := r.opts.ServiceAccountKubeconfig(pod.Namespace, cmp.Or(pod.Spec.ServiceAccountName, "default"))
		if err != nil {
			return "", fmt.Errorf("kubeconfig of the service account: %w", err)
		}
		return kubeconfig, nil
	}
	return r.opts.Kubeconfig, nil
}

// newContainer prepares container spec of pod, run as p with IP ip, to run executable exe.
func (r *ProcessRuntime) newContainer(ctx context.Context, pod *corev1.Pod, p *processPod, spec *corev1.Container, exe, ip string) (*container, error) {
	env, err := r.env.resolve(ctx, pod, spec, ip)
	if err != nil {
		return nil, err
	}
	log := r.opts.Log.WithValues("pod", podKey(pod), "container", spec.Name)
	return &container{
		spec: spec,
		process: processSpec{
			argv:    commandLine(exe, spec, env.values),
			env:     slices.Concat(p.env, env.list()),
			dir:     p.dir,
			logPath: r.LogPath(pod.Namespace, pod.Name, spec.Name),
		},
		probe:   readinessProbe(spec, log),
		backoff: r.opts.RestartBackoff,
		log:     log,
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}, nil
}

// commandLine returns the argv of container c run by executable exe: exe, then the command
// without its first element (the image's entrypoint, which exe stands for), then the args, with
// their $(VAR) references expanded.
func commandLine(exe string, c *corev1.Container, vars map[string]string) []string {
	argv := []string{exe}
	if len(c.Command) > 0 {
		argv = append(argv, c.Command[1:]...)
	}
	argv = append(argv, c.Args...)
	for i, arg := range argv[1:] {
		argv[i+1] = expand(arg, vars)
	}
	return argv
}

// processPod is a pod whose containers run as processes.
type processPod struct {
	dir        string   // the working directory
	env        []string // the environment every process starts from
	containers []*container
}

// ready probes every container and reports whether all are ready.
func (p *processPod) ready(ctx context.Context, pr *prober, ip string) bool {
	ready := true
	for _, c := range p.containers {
		ready = c.ready(ctx, pr, ip) && ready
	}
	return ready
}

// stop stops the containers in parallel and removes the working directory.
func (p *processPod) stop(ctx context.Context, grace time.Duration) error {
	var wg sync.WaitGroup
	for _, c := range p.containers {
		wg.Go(func() { c.stop(ctx, grace) })
	}
	wg.Wait()
	return os.RemoveAll(p.dir)
}

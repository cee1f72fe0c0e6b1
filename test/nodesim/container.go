package nodesim

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stablering/stablering/test/internal/childproc"
)

const (
	// crashLoopBackOff is why a container whose process exited waits.
	crashLoopBackOff = "CrashLoopBackOff"
	// maxBackoffFactor caps the restart delay at this multiple of the first delay.
	maxBackoffFactor = 32
)

// errStopping is why a stopping container does not launch its process.
var errStopping = errors.New("container is stopping")

// processSpec is how to run the process of a container.
type processSpec struct {
	argv    []string
	env     []string
	dir     string // working directory
	logPath string // receives stdout and stderr, appended
}

// container runs the process of one container of a pod and restarts it with backoff whenever
// it exits, as a kubelet does under restartPolicy Always, until it is stopped. Each process
// leads a process group of its own, and its group is killed when it exits, as a container's
// processes end with its main process.
type container struct {
	spec    *corev1.Container
	process processSpec
	probe   *corev1.Probe // nil: ready while the process runs
	backoff time.Duration // the first restart delay
	log     logr.Logger

	quit chan struct{} // closed once the container is stopping
	done chan struct{} // closed once no process runs or will run

	mu        sync.Mutex
	stopping  bool
	current   *instance // nil while waiting to restart
	launches  int32
	status    ContainerStatus
	readiness probeState
}

// instance is one run of a container's process.
type instance struct {
	cmd       *exec.Cmd
	started   time.Time
	logOffset int64         // the size of the log file when the process started
	exited    chan struct{} // closed once the process has exited and been reaped
}

// start launches the process and supervises it in the background.
func (c *container) start() error {
	inst, err := c.launch()
	if err != nil {
		close(c.done)
		return err
	}
	go c.supervise(inst)
	return nil
}

// launch starts a new instance of the process unless the container is stopping.
func (c *container) launch() (*instance, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping {
		return nil, errStopping
	}
	out, err := os.OpenFile(c.process.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer out.Close() // the process has its own copy
	var logOffset int64
	if info, err := out.Stat(); err == nil {
		logOffset = info.Size()
	}
	cmd := exec.Command(c.process.argv[0], c.process.argv[1:]...)
	cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = c.process.env, c.process.dir, out, out
	cmd.SysProcAttr = childproc.SysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	inst := &instance{cmd: cmd, started: time.Now(), logOffset: logOffset, exited: make(chan struct{})}
	c.current, c.readiness = inst, probeState{}
	c.status = ContainerStatus{RestartCount: c.launches, StartedAt: inst.started, LastTermination: c.status.LastTermination}
	c.launches++
	c.log.Info("process started", "pid", cmd.Process.Pid, "restarts", c.status.RestartCount, "argv", c.process.argv, "log", c.process.logPath)
	return inst, nil
}

// supervise restarts the process with backoff each time it exits, until the container stops.
func (c *container) supervise(inst *instance) {
	defer close(c.done)
	var delay time.Duration
	for inst != nil {
		ran := c.wait(inst)
		delay = nextBackoff(delay, ran, c.backoff)
		inst = c.relaunch(delay)
	}
}

// wait waits for inst to exit, kills what is left of its process group, records how it ended
// and returns how long it ran.
func (c *container) wait(inst *instance) time.Duration {
	err := inst.cmd.Wait()
	signalGroup(inst.cmd.Process.Pid, syscall.SIGKILL)
	close(inst.exited)
	term := termination(inst, err, time.Now())
	if term.ExitCode != 0 {
		if line := bindConflict(c.process.logPath, inst.logOffset); line != "" {
			term.Message = line + "\n" + sharedNetworkHint
			c.log.Info("the process could not listen: "+sharedNetworkHint, "output", line)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.current = nil
	c.status.Waiting, c.status.LastTermination = crashLoopBackOff, term
	if !c.stopping {
		c.log.Info("process exited", "exitCode", term.ExitCode, "reason", term.Reason)
	}
	return term.FinishedAt.Sub(inst.started)
}

// sharedNetworkHint explains a process's "address already in use" on the simulated node.
const sharedNetworkHint = "The simulated node's pods share the host's network: a server must listen on its pod's IP " +
	"(e.g. $(POD_IP) from the downward API, status.podIP), not on all addresses, or the first pod takes the port from all others."

// bindConflict returns the first line of the log at path, from offset on, that says an address
// is already in use; "" if none does.
func bindConflict(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	data, _ := io.ReadAll(io.LimitReader(f, 64<<10))
	for line := range strings.Lines(string(data)) {
		if strings.Contains(line, "address already in use") {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// relaunch launches the process again after delay, retrying with longer delays while that
// fails; it returns nil once the container is stopping.
func (c *container) relaunch(delay time.Duration) *instance {
	for {
		select {
		case <-c.quit:
			return nil
		case <-time.After(delay):
		}
		inst, err := c.launch()
		if err == nil || errors.Is(err, errStopping) {
			return inst
		}
		c.log.Error(err, "restarting process")
		delay = nextBackoff(delay, 0, c.backoff)
	}
}

// nextBackoff returns how long to wait before restarting a process that ran for ran, given the
// previous delay: first at first and after a run longer than the longest delay, else twice the
// previous delay, up to maxBackoffFactor times first.
func nextBackoff(previous, ran, first time.Duration) time.Duration {
	longest := maxBackoffFactor * first
	if previous == 0 || ran > longest {
		return first
	}
	return min(2*previous, longest)
}

// termination describes how inst ended, given the error of waiting for it, as a container
// runtime does: a process killed by signal n exits with 128+n.
func termination(inst *instance, waitErr error, finished time.Time) *corev1.ContainerStateTerminated {
	t := &corev1.ContainerStateTerminated{
		Reason:     "Error",
		StartedAt:  metav1.NewTime(inst.started),
		FinishedAt: metav1.NewTime(finished),
	}
	if inst.cmd.ProcessState == nil { // waiting failed
		t.ExitCode, t.Message = 128, waitErr.Error()
		return t
	}
	status := inst.cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case status.Signaled():
		t.Signal = int32(status.Signal())
		t.ExitCode = 128 + t.Signal
	case status.ExitStatus() == 0:
		t.Reason = "Completed"
	default:
		t.ExitCode = int32(status.ExitStatus())
	}
	return t
}

// stop stops the process: SIGTERM to its process group, then SIGKILL once grace has passed or
// ctx ended. It returns once no process runs or will run.
func (c *container) stop(ctx context.Context, grace time.Duration) {
	c.mu.Lock()
	if !c.stopping {
		c.stopping = true
		close(c.quit)
	}
	inst := c.current
	c.mu.Unlock()
	if inst != nil {
		inst.terminate(ctx, grace)
	}
	<-c.done
}

// terminate signals inst to stop and waits until it has exited.
func (inst *instance) terminate(ctx context.Context, grace time.Duration) {
	pid := inst.cmd.Process.Pid
	signalGroup(pid, syscall.SIGTERM)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-inst.exited:
		return
	case <-timer.C:
	case <-ctx.Done():
	}
	signalGroup(pid, syscall.SIGKILL)
	<-inst.exited
}

// signalGroup sends sig to the process group that pid leads.
func signalGroup(pid int, sig syscall.Signal) {
	_ = syscall.Kill(-pid, sig) // fails only if the group is gone already
}

// ready reports whether the process runs and, if the container has a readiness probe, whether
// it is ready by the probe's results, probing it once its initial delay has passed.
func (c *container) ready(ctx context.Context, pr *prober, ip string) bool {
	c.mu.Lock()
	inst := c.current
	c.mu.Unlock()
	switch {
	case inst == nil:
		return false
	case c.probe == nil:
		return true
	case time.Since(inst.started) < time.Duration(c.probe.InitialDelaySeconds)*time.Second:
		return false
	}
	err := pr.probe(ctx, c.probe, c.spec, ip)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.current != inst {
		return false // restarted meanwhile
	}
	was := c.readiness.ready
	ready := c.readiness.record(c.probe, err == nil)
	if ready != was {
		c.log.Info("readiness changed", "ready", ready, "probeError", err)
	}
	return ready
}

// state returns the container's state.
func (c *container) state() ContainerStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// readinessProbe returns the readiness probe of c if it is an HTTP or TCP probe; exec and gRPC
// probes are not run (the container is ready while its process runs), which it logs.
func readinessProbe(c *corev1.Container, log logr.Logger) *corev1.Probe {
	p := c.ReadinessProbe
	if p == nil || p.HTTPGet != nil || p.TCPSocket != nil {
		return p
	}
	log.Info("not running the readiness probe, only httpGet and tcpSocket probes are supported: the container is ready while its process runs")
	return nil
}

package controlplane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/stablering/stablering/test/internal/childproc"
)

const (
	// controllerManagerStartTimeout bounds how long Start waits for kube-controller-manager.
	controllerManagerStartTimeout = 30 * time.Second
	// stopTimeout is how long a stopping process gets after SIGTERM before SIGKILL.
	stopTimeout = 10 * time.Second
)

type controllerManagerConfig struct {
	path, kubeconfig, logPath string
	flags                     map[string]string
}

// process is a child process whose output goes to a log file.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited
	err  error         // the exit error, valid after done is closed
}

// startControllerManager starts kube-controller-manager and waits until its /healthz is ok.
func startControllerManager(ctx context.Context, cfg controllerManagerConfig) (*process, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args := flagArgs(controllerManagerFlags(cfg.kubeconfig, port), cfg.flags)
	p, err := startProcess(cfg.path, args, cfg.logPath)
	if err != nil {
		return nil, err
	}
	healthz := fmt.Sprintf("https://127.0.0.1:%s/healthz", port)
	if err := p.waitHealthy(ctx, healthz, controllerManagerStartTimeout); err != nil {
		stopErr := p.stop()
		return nil, errors.Join(fmt.Errorf("kube-controller-manager: %w; its log ends:\n%s", err, tail(cfg.logPath, 20)), stopErr)
	}
	return p, nil
}

// controllerManagerFlags are the defaults: only the workload controllers, no leader election,
// serving /healthz on port of the loopback interface only.
func controllerManagerFlags(kubeconfig, port string) map[string]string {
	return map[string]string{
		"kubeconfig":                kubeconfig,
		"authentication-kubeconfig": kubeconfig,
		"authorization-kubeconfig":  kubeconfig,
		"controllers":               strings.Join(controllers, ","),
		"leader-elect":              "false",
		"bind-address":              "127.0.0.1",
		"secure-port":               port,
		"kube-api-qps":              "200",
		"kube-api-burst":            "400",
		"v":                         "2",
	}
}

// flagArgs merges overrides into defaults and renders them as sorted --name=value arguments.
func flagArgs(defaults, overrides map[string]string) []string {
	merged := maps.Clone(defaults)
	maps.Copy(merged, overrides)
	args := make([]string, 0, len(merged))
	for _, name := range slices.Sorted(maps.Keys(merged)) {
		args = append(args, "--"+name+"="+merged[name])
	}
	return args
}

// tail returns the last n lines of the file at path, which Stop is about to remove.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}

// startProcess runs path in its own process group (so a terminal's Ctrl-C reaches only the
// parent, which stops it in order) with stdout and stderr appended to logPath.
func startProcess(path string, args []string, logPath string) (*process, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = childproc.SysProcAttr()
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting %s: %w", path, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		log.Close()
		close(p.done)
	}()
	return p, nil
}

// waitHealthy polls url until it answers 200, the process exits, ctx ends or timeout passes.
func (p *process) waitHealthy(ctx context.Context, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// The serving certificate is self-signed and /healthz carries no secrets.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	defer client.CloseIdleConnections()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !healthy(ctx, client, url) {
		select {
		case <-p.done:
			if p.err != nil {
				return fmt.Errorf("exited during startup: %w", p.err)
			}
			return errors.New("exited during startup")
		case <-ctx.Done():
			return fmt.Errorf("not healthy at %s: %w", url, context.Cause(ctx))
		case <-tick.C:
		}
	}
	return nil
}

func healthy(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// stop sends SIGTERM, then SIGKILL after stopTimeout, and waits for the process to exit.
func (p *process) stop() error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(stopTimeout):
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	<-p.done
	return fmt.Errorf("%s did not stop within %s and was killed", p.cmd.Path, stopTimeout)
}

// Package registry runs a container registry server, the CNCF distribution project's registry,
// on 127.0.0.1 for tests and local clusters, and pushes the project's OCI image layouts into it.
// The binary is built from the Go module proxy by `make registry` (hack/go-binary.sh).
package registry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/stablering/stablering/test/images"
	"github.com/stablering/stablering/test/internal/childproc"
	"github.com/stablering/stablering/test/internal/gobinary"
)

// Version is the distribution release `make registry` builds by default. Keep it in sync with
// REGISTRY_VERSION in the Makefile.
const Version = "v3.1.2"

// command is the registry server as `make registry` builds it; $STABLERING_REGISTRY (make test
// sets it) overrides where it is.
var command = gobinary.Command{Name: "registry", Version: Version, Env: "STABLERING_REGISTRY", MakeTarget: "registry"}

// startTimeout bounds how long Start waits for the registry to serve.
const startTimeout = 30 * time.Second

// Binary returns the path of the registry binary: $STABLERING_REGISTRY when set, else where
// hack/go-binary.sh puts it by default. It fails with an error wrapping gobinary.ErrMissing,
// telling the user to run `make registry`, when there is no executable there.
func Binary() (string, error) { return command.Path() }

// SkipReason returns why a test needing the registry should be skipped: its binary is missing
// and STABLERING_REQUIRE_CONTROLPLANE is not "1". It returns "" when the test should run (and
// fail without it).
func SkipReason() string { return command.SkipReason() }

// Registry is a running registry server, serving plain HTTP on 127.0.0.1 without
// authentication, storing its blobs in a directory of its own.
type Registry struct {
	// Host is the registry's host:port, e.g. 127.0.0.1:40123, for image references.
	Host string
	// Log is the file the registry logs to.
	Log string

	dir     string
	removed bool // dir is removed by Stop
	proc    *childproc.Process
}

// Start starts the registry binary with its storage, configuration and log in dir (a temporary
// directory that Stop removes when dir is ""), on a free port of 127.0.0.1, and returns once it
// serves the registry API.
func Start(ctx context.Context, binary, dir string) (*Registry, error) {
	r := &Registry{dir: dir}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "stablering-registry-")
		if err != nil {
			return nil, err
		}
		r.dir, r.removed = tmp, true
	}
	r.Log = filepath.Join(r.dir, "registry.log")
	// A port found free can be taken by another process before the registry binds it: try again.
	var errs []error
	for range 3 {
		err := r.start(ctx, binary)
		if err == nil {
			return r, nil
		}
		errs = append(errs, err)
		if !strings.Contains(childproc.Tail(r.Log, 5), "address already in use") {
			break
		}
	}
	return nil, errors.Join(append(errs, r.Stop())...)
}

func (r *Registry) start(ctx context.Context, binary string) error {
	port, err := childproc.FreePort()
	if err != nil {
		return err
	}
	host := "127.0.0.1:" + port
	config := filepath.Join(r.dir, "config.yml")
	if err := os.WriteFile(config, []byte(configYAML(host, filepath.Join(r.dir, "storage"))), 0o644); err != nil {
		return err
	}
	// Tracing off: the registry would otherwise export spans to an OTLP collector.
	p, err := childproc.StartEnv(binary, []string{"serve", config}, []string{"OTEL_TRACES_EXPORTER=none"}, r.Log)
	if err != nil {
		return err
	}
	if err := p.WaitHealthy(ctx, "http://"+host+"/v2/", startTimeout); err != nil {
		return errors.Join(fmt.Errorf("registry: %w; its log ends:\n%s", err, childproc.Tail(r.Log, 20)), p.Stop())
	}
	r.Host, r.proc = host, p
	return nil
}

// configYAML is the registry's configuration: filesystem storage, deletes allowed, plain HTTP on
// addr only, no debug or metrics listener, no authentication.
func configYAML(addr, storage string) string {
	return fmt.Sprintf(`version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: %q
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %q
  headers:
    X-Content-Type-Options: [nosniff]
`, storage, addr)
}

// Pid is the registry process's ID, or 0 once stopped.
func (r *Registry) Pid() int {
	if r.proc == nil {
		return 0
	}
	return r.proc.Pid()
}

// Stop stops the registry by its PID and removes its directory if Start made it. It is safe to
// call more than once.
func (r *Registry) Stop() error {
	var errs []error
	if r.proc != nil {
		errs = append(errs, r.proc.Stop())
		r.proc = nil
	}
	if r.removed && r.dir != "" {
		errs = append(errs, os.RemoveAll(r.dir))
		r.dir = ""
	}
	return errors.Join(errs...)
}

// Pushed is an image index pushed by Push.
type Pushed = images.Pushed

// Push pushes every named image index of the OCI image layout in dir (see images.BuildOCI) to
// the registry, under its name and tag, and returns them in the order of their names.
func (r *Registry) Push(ctx context.Context, dir string) ([]Pushed, error) {
	return images.PushLayout(ctx, dir, func(ref string) (name.Tag, error) {
		return name.NewTag(r.Host+"/"+ref, name.Insecure, name.StrictValidation)
	})
}

// Package gobinary finds the Go commands that hack/go-binary.sh builds from the Go module proxy
// into the cache (the registry server, promtool): at the path an environment variable names
// (`make test` sets it), else where the script puts the command by default. A test that needs one
// skips when it is missing, unless STABLERING_REQUIRE_CONTROLPLANE=1 (`make test` sets it too).
package gobinary

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/stablering/stablering/test/internal/cachedir"
)

// RequireEnv names the environment variable that, set to "1", turns a missing binary from a
// skipped test into a failure; it is the control plane's.
const RequireEnv = "STABLERING_REQUIRE_CONTROLPLANE"

// ErrMissing is wrapped by Command.Path's error when the binary is not there.
var ErrMissing = errors.New("binary missing")

// Command is a Go command that a make target builds with hack/go-binary.sh.
type Command struct {
	// Name and Version make the default path, the cache's bin/<Name>-<Version>.
	Name, Version string
	// Env names the environment variable that overrides the path.
	Env string
	// MakeTarget builds the command, e.g. "registry".
	MakeTarget string
}

// Path returns the path of the binary: $Env when set, else the cache's bin/<Name>-<Version>. It
// fails with ErrMissing, telling the user which make target builds it, when there is no
// executable there.
func (c Command) Path() (string, error) {
	path := os.Getenv(c.Env)
	if path == "" {
		path = filepath.Join(cachedir.Dir(), "bin", c.Name+"-"+c.Version)
	}
	info, err := os.Stat(path)
	if err != nil || info.IsDir() || info.Mode().Perm()&0o111 == 0 {
		return path, fmt.Errorf("%w: no executable %s; run `make %s` to build it", ErrMissing, path, c.MakeTarget)
	}
	return path, nil
}

// SkipReason returns why a test needing the command should be skipped: its binary is missing and
// RequireEnv is not "1". It returns "" when the test should run (and fail without it).
func (c Command) SkipReason() string {
	if _, err := c.Path(); err != nil && os.Getenv(RequireEnv) != "1" {
		return fmt.Sprintf("%v (set %s=1 to fail instead of skipping)", err, RequireEnv)
	}
	return ""
}

// Package version names the build of StableRing's binaries. Version is stamped at build time
// (make build, make images and the Dockerfile pass -ldflags "-X .../cmd/internal/version.Version=v0.1.0").
// An unstamped binary takes its module's version from Go's build information when it has one
// (go install github.com/stablering/stablering/cmd/stablering@v0.1.0), and says "dev"
// otherwise; the commit is added when Go recorded one.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is the release, set by the linker; see Current for the version of an unstamped build.
var Version = "dev"

// unstamped is Version's value when the linker did not set it.
const unstamped = "dev"

// Current is the version of the running binary: Version when the build stamped it, else the
// main module's version from the build information (a release when built with go install
// ...@version), else "dev".
func Current() string {
	if Version != unstamped {
		return Version
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		return moduleVersion(info)
	}
	return unstamped
}

// moduleVersion is the main module's version in info, or "dev" for a build in a checkout
// ("(devel)") or without one.
func moduleVersion(info *debug.BuildInfo) string {
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	return unstamped
}

// String describes the build of the program called name, e.g.
// "gateway v0.1.0 (commit 2fe34be, go1.26.8 linux/amd64)".
func String(name string) string {
	detail := runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
	if rev := revision(); rev != "" {
		detail = "commit " + rev + ", " + detail
	}
	return fmt.Sprintf("%s %s (%s)", name, Current(), detail)
}

// revision is the VCS revision Go recorded in the binary, shortened, or "".
func revision() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev == "" {
		return ""
	}
	return rev + modified
}

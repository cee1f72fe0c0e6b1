// Package version names the build of StableRing's binaries. Version is stamped at build time
// (make build and the Dockerfile pass -ldflags "-X .../cmd/internal/version.Version=v0.1.0");
// a plain go build says "dev", with the commit when Go recorded one.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is the release, set by the linker; "dev" otherwise.
var Version = "dev"

// String describes the build of the program called name, e.g.
// "gateway v0.1.0 (commit 2fe34be, go1.26.8 linux/amd64)".
func String(name string) string {
	detail := runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
	if rev := revision(); rev != "" {
		detail = "commit " + rev + ", " + detail
	}
	return fmt.Sprintf("%s %s (%s)", name, Version, detail)
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

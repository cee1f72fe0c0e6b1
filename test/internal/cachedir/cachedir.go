// Package cachedir is where the hack scripts cache what they build outside the clone (the
// control plane, the registry): ${STABLERING_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/stablering},
// as hack/controlplane-binaries.sh and hack/go-binary.sh compute it.
package cachedir

import (
	"os"
	"path/filepath"
)

// Dir returns the cache directory. Without a home directory it is relative, and whoever looks
// for a file there reports it missing.
func Dir() string {
	if cache := os.Getenv("STABLERING_CACHE"); cache != "" {
		return cache
	}
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, _ := os.UserHomeDir()
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "stablering")
}

// Command stablering is StableRing's command-line tool. Installed as kubectl-stablering on the
// PATH (or through krew, plugins/stablering.yaml), it is also the kubectl plugin
// "kubectl stablering".
//
// Usage:
//
//	stablering <command> [flags] [arguments]
//
// Run "stablering --help" for the commands and "stablering <command> --help" for a command's
// flags. The commands that read the cluster take kubectl's --kubeconfig, --context and
// -n/--namespace. Exit codes: 0 success, 1 failure, 2 bad usage.
package main

import (
	"os"
	"path/filepath"
)

func main() {
	os.Exit(runAs(displayName(os.Args[0]), os.Args[1:], os.Stdout, os.Stderr))
}

// pluginBinary is the name kubectl finds a plugin "kubectl stablering" by.
const pluginBinary = "kubectl-stablering"

// displayName is how the program calls itself in its usage: "kubectl stablering" when the
// executable at path is the kubectl plugin, "stablering" otherwise.
func displayName(path string) string {
	base := filepath.Base(path)
	if base == pluginBinary || base == pluginBinary+".exe" {
		return "kubectl stablering"
	}
	return "stablering"
}

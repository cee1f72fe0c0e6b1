// Command validate-manifests checks the Kubernetes manifests on its standard input without an API
// server: every document must decode strictly into the type of its kind, namespaced objects must
// name their namespace, and no object may appear twice (see install.Validate). make helm-lint
// pipes the chart's rendered output through it.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/stablering/stablering/test/install"
)

func main() {
	data, err := io.ReadAll(os.Stdin)
	if err == nil {
		err = install.Validate(data)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "validate-manifests:", err)
		os.Exit(1)
	}
}

// Package source feeds the gateway with StableRings. A [Source] publishes complete snapshots
// (every StableRing it knows, spec and status) whenever something changes; the gateway swaps
// its routing table on each one. [Informer] watches the Kubernetes API; [File] reads a YAML
// file, for running outside Kubernetes.
package source

import (
	"context"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
)

// Publish receives a snapshot of all StableRings. The slice belongs to the receiver; the
// StableRings in it may share their contents with the source's, so the receiver must not
// modify them.
type Publish func(rings []v1alpha1.StableRing)

// Source publishes StableRing snapshots until its context ends.
type Source interface {
	// Run publishes a first snapshot once the source is in sync, then one per change, and
	// returns when ctx ends (nil) or the source cannot work at all (an error).
	Run(ctx context.Context, publish Publish) error
}

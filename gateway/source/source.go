// Package source feeds the gateway with StableRings. A [Source] publishes complete snapshots
// (every StableRing it knows, spec and status, with the members of its resolved ring assembled
// from its MemberSlices) whenever something changes; the gateway swaps its routing table on each
// one. [Informer] watches the Kubernetes API; [File] reads a YAML file, for running outside
// Kubernetes.
package source

import (
	"context"

	"github.com/stablering/stablering/gateway/resolved"
)

// Publish receives a snapshot of all StableRings. The slice belongs to the receiver; the
// StableRings and members in it may share their contents with the source's, so the receiver
// must not modify them.
type Publish func(rings []resolved.Ring)

// Source publishes StableRing snapshots until its context ends.
type Source interface {
	// Run publishes a first snapshot once the source is in sync, then one per change, and
	// returns when ctx ends (nil) or the source cannot work at all (an error).
	Run(ctx context.Context, publish Publish) error
}

package images

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Pushed is an image index pushed to a registry.
type Pushed struct {
	Ref    string      // the layout's name for it, e.g. stablering/manager:v0.1.0
	Tag    name.Tag    // where it was pushed, e.g. 127.0.0.1:40123/stablering/manager:v0.1.0
	Digest name.Digest // the same, by digest
}

// PushLayout pushes every named image index of the OCI image layout in dir (see BuildOCI) to
// the tag tagFor gives its name, with opts, and returns them in the order of their names.
func PushLayout(ctx context.Context, dir string, tagFor func(ref string) (name.Tag, error), opts ...remote.Option) ([]Pushed, error) {
	indexes, err := LayoutIndexes(dir)
	if err != nil {
		return nil, err
	}
	opts = append(opts, remote.WithContext(ctx))
	var out []Pushed
	for _, ref := range slices.Sorted(maps.Keys(indexes)) {
		tag, err := tagFor(ref)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		idx := indexes[ref]
		if err := remote.WriteIndex(tag, idx, opts...); err != nil {
			return nil, fmt.Errorf("pushing %s: %w", ref, err)
		}
		digest, err := idx.Digest()
		if err != nil {
			return nil, err
		}
		out = append(out, Pushed{Ref: ref, Tag: tag, Digest: tag.Context().Digest(digest.String())})
	}
	return out, nil
}

package images

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// OCI images of the project, built without a container engine: each is an image index with one
// image per platform, written into an OCI image layout directory. Every image has two layers, a
// base shared by all of them and the static binary, and the same layout as the Dockerfile's
// images (binary path, user, entrypoint, ports, labels; see TestDockerfileAgrees).

// Image describes one of the project's images.
type Image struct {
	Name        string   // image and binary name: the binary is /Name and the entrypoint
	Package     string   // Go package of the binary, relative to the module root
	Description string   // org.opencontainers.image.description
	Ports       []string // exposed ports, e.g. "8080/tcp"
}

// OCIImages are the images `make images` builds, in the order it builds them.
var OCIImages = []Image{
	{Name: "manager", Package: "./cmd/manager", Description: "StableRing manager: resolves StableRings and paces the rollouts of their StatefulSets"},
	{Name: "gateway", Package: "./cmd/gateway", Description: "StableRing gateway: routes each room to its StatefulSet pod by ordinal", Ports: []string{"8080/tcp", "9090/tcp"}},
	{Name: "chat", Package: "./examples/chat", Description: "StableRing chat example: a WebSocket room service", Ports: []string{"8080/tcp"}},
}

// DefaultPlatforms are the platforms of every image index.
var DefaultPlatforms = []v1.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}

const (
	// User is the user and group the images run as: distroless's nonroot.
	User = "65532:65532"
	// Source is the org.opencontainers.image.source label of every image.
	Source = "https://github.com/stablering/stablering"
	// RefNameAnnotation names an image in an OCI layout's index.json.
	RefNameAnnotation = "org.opencontainers.image.ref.name"
	// containerdNameAnnotation is the full image name containerd gives an image it imports.
	containerdNameAnnotation = "io.containerd.image.name"
	// versionPackage is stamped with the version by the linker (see cmd/internal/version).
	versionPackage = "github.com/stablering/stablering/cmd/internal/version"
	// pathEnv is the PATH of distroless images.
	pathEnv = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	homeDir = "home/nonroot"
)

// BuildInfo is what a build stamps into the images.
type BuildInfo struct {
	Version    string // the binaries' version and the images' tag and version label
	Revision   string // the source revision (git commit); "unknown" when empty
	Repository string // prefix of the image names, e.g. "stablering" gives stablering/manager:VERSION
	// Created is the images' creation time; the zero time leaves the Unix epoch, so the same
	// sources give the same digests.
	Created time.Time
}

// Built is an image index written by BuildOCI.
type Built struct {
	Image  Image
	Ref    string  // repository/name:version, the layout's ref.name annotation
	Digest v1.Hash // of the image index
}

// tagPattern is what a registry accepts as a tag.
var tagPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// Labels returns the org.opencontainers.image labels of img built with info.
func Labels(img Image, info BuildInfo) map[string]string {
	revision := info.Revision
	if revision == "" {
		revision = "unknown"
	}
	return map[string]string{
		"org.opencontainers.image.title":       img.Name,
		"org.opencontainers.image.description": img.Description,
		"org.opencontainers.image.version":     info.Version,
		"org.opencontainers.image.revision":    revision,
		"org.opencontainers.image.source":      Source,
	}
}

// BuildOCI cross-compiles the images' binaries in moduleRoot for each platform (static, trimmed,
// stamped with info.Version) and writes an OCI image layout to outDir holding an image index per
// image. outDir is replaced if it already holds an OCI layout, and must not exist otherwise.
func BuildOCI(ctx context.Context, moduleRoot, outDir string, imgs []Image, platforms []v1.Platform, info BuildInfo) ([]Built, error) {
	if !tagPattern.MatchString(info.Version) {
		return nil, fmt.Errorf("version %q is not a valid image tag", info.Version)
	}
	// Stage beside outDir, so the finished layout is renamed into place.
	if err := os.MkdirAll(filepath.Dir(outDir), 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp(filepath.Dir(outDir), ".images-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	binaries := map[string]map[string]string{} // image name -> platform -> binary path
	for _, p := range platforms {
		dir := filepath.Join(work, "bin", p.OS+"_"+p.Architecture)
		if err := crossBuild(ctx, moduleRoot, dir, p, info.Version, imgs); err != nil {
			return nil, err
		}
		for _, img := range imgs {
			if binaries[img.Name] == nil {
				binaries[img.Name] = map[string]string{}
			}
			binaries[img.Name][p.String()] = filepath.Join(dir, img.Name)
		}
	}
	staged := filepath.Join(work, "layout")
	lp, err := layout.Write(staged, empty.Index)
	if err != nil {
		return nil, err
	}
	var built []Built
	for _, img := range imgs {
		idx, err := Index(img, info, platforms, binaries[img.Name])
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", img.Name, err)
		}
		ref := Ref(img, info)
		if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{
			RefNameAnnotation: ref, containerdNameAnnotation: ref,
		})); err != nil {
			return nil, fmt.Errorf("image %s: writing the layout: %w", img.Name, err)
		}
		digest, err := idx.Digest()
		if err != nil {
			return nil, err
		}
		built = append(built, Built{Image: img, Ref: ref, Digest: digest})
	}
	if err := replaceLayout(staged, outDir); err != nil {
		return nil, err
	}
	return built, nil
}

// Ref is the name of img in a layout: repository/name:version.
func Ref(img Image, info BuildInfo) string {
	name := img.Name + ":" + info.Version
	if info.Repository != "" {
		name = info.Repository + "/" + name
	}
	return name
}

// crossBuild builds the binaries of imgs for platform p into dir, in one go build.
func crossBuild(ctx context.Context, moduleRoot, dir string, p v1.Platform, version string, imgs []Image) error {
	args := []string{"build", "-trimpath", "-ldflags", "-s -w -X " + versionPackage + ".Version=" + version, "-o", dir + string(filepath.Separator)}
	for _, img := range imgs {
		if path.Base(img.Package) != img.Name {
			return fmt.Errorf("image %s: package %s builds a binary of another name", img.Name, img.Package)
		}
		args = append(args, img.Package)
	}
	env := []string{"CGO_ENABLED=0", "GOOS=" + p.OS, "GOARCH=" + p.Architecture}
	if _, err := goCommandEnv(ctx, moduleRoot, env, args...); err != nil {
		return fmt.Errorf("building for %s: %w", p, err)
	}
	return nil
}

// Index builds the image index of img from its binaries (platform string -> path), one image
// per platform in the order given.
func Index(img Image, info BuildInfo, platforms []v1.Platform, binaries map[string]string) (v1.ImageIndex, error) {
	base, err := baseLayer()
	if err != nil {
		return nil, err
	}
	var adds []mutate.IndexAddendum
	for _, p := range platforms {
		bin, ok := binaries[p.String()]
		if !ok {
			return nil, fmt.Errorf("no binary for %s", p)
		}
		image, err := platformImage(img, info, p, base, bin)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: image, Descriptor: v1.Descriptor{Platform: &p}})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	return mutate.Annotations(idx, Labels(img, info)).(v1.ImageIndex), nil
}

func platformImage(img Image, info BuildInfo, p v1.Platform, base v1.Layer, binary string) (v1.Image, error) {
	data, err := os.ReadFile(binary)
	if err != nil {
		return nil, err
	}
	binLayer, err := layer([]tarEntry{{name: img.Name, mode: 0o755, data: data}})
	if err != nil {
		return nil, err
	}
	created := v1.Time{Time: info.Created}
	if info.Created.IsZero() {
		created = v1.Time{Time: time.Unix(0, 0).UTC()}
	}
	image, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1),
		mutate.Addendum{Layer: base, History: v1.History{Created: created, CreatedBy: "make images: /etc/passwd, /etc/group, /tmp, /home/nonroot", Comment: "users and directories of distroless static:nonroot"}},
		mutate.Addendum{Layer: binLayer, History: v1.History{Created: created, CreatedBy: "make images: /" + img.Name}},
	)
	if err != nil {
		return nil, err
	}
	cf, err := image.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Created = created
	cf.Config = v1.Config{
		User:         User,
		Entrypoint:   []string{"/" + img.Name},
		Env:          []string{pathEnv},
		WorkingDir:   "/" + homeDir,
		Labels:       Labels(img, info),
		ExposedPorts: map[string]struct{}{},
	}
	for _, port := range img.Ports {
		cf.Config.ExposedPorts[port] = struct{}{}
	}
	image, err = mutate.ConfigFile(image, cf)
	if err != nil {
		return nil, err
	}
	return mutate.ConfigMediaType(image, types.OCIConfigJSON), nil
}

// tarEntry is a file or directory of a layer, owned by root unless uid is set.
type tarEntry struct {
	name string
	mode int64
	dir  bool
	uid  int
	data []byte
}

// baseLayer holds what the binaries expect of distroless static:nonroot: the nonroot user
// (65532) and its home, and a world-writable /tmp.
func baseLayer() (v1.Layer, error) {
	return layer([]tarEntry{
		{name: "etc", mode: 0o755, dir: true},
		{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n")},
		{name: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/sbin/nologin\n" +
			"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
			"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{name: "home", mode: 0o755, dir: true},
		{name: homeDir, mode: 0o700, dir: true, uid: 65532},
		{name: "tmp", mode: 0o1777, dir: true},
	})
}

// layer builds a gzipped layer of entries with fixed times and owners, so it is reproducible.
func layer(entries []tarEntry) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if e.dir {
			hdr.Typeflag, hdr.Name = tar.TypeDir, e.name+"/"
		} else {
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
}

// replaceLayout moves the layout staged into dir, replacing an OCI layout already there.
func replaceLayout(staged, dir string) error {
	if _, err := os.Stat(dir); err == nil {
		if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
			return fmt.Errorf("%s exists and is not an OCI image layout; not replacing it", dir)
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return os.Rename(staged, dir)
}

// LayoutIndexes returns the image indexes of the OCI layout in dir by their ref.name annotation.
func LayoutIndexes(dir string) (map[string]v1.ImageIndex, error) {
	lp, err := layout.FromPath(dir)
	if err != nil {
		return nil, err
	}
	root, err := lp.ImageIndex()
	if err != nil {
		return nil, err
	}
	manifest, err := root.IndexManifest()
	if err != nil {
		return nil, err
	}
	out := map[string]v1.ImageIndex{}
	for _, desc := range manifest.Manifests {
		ref := desc.Annotations[RefNameAnnotation]
		if ref == "" || !desc.MediaType.IsIndex() {
			continue
		}
		idx, err := root.ImageIndex(desc.Digest)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ref, err)
		}
		out[ref] = idx
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no named image index in the OCI layout %s", dir)
	}
	return out, nil
}

// ParsePlatforms parses a comma-separated list such as "linux/amd64,linux/arm64".
func ParsePlatforms(s string) ([]v1.Platform, error) {
	var out []v1.Platform
	for _, f := range strings.Split(s, ",") {
		p, err := v1.ParsePlatform(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		if p.OS == "" || p.Architecture == "" {
			return nil, fmt.Errorf("platform %q: want os/arch", f)
		}
		out = append(out, *p)
	}
	return out, nil
}

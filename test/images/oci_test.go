package images

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	. "github.com/onsi/gomega"
)

// standInBinaries writes a small file per platform in place of img's binary.
func standInBinaries(t *testing.T, img Image) map[string]string {
	dir := t.TempDir()
	out := map[string]string{}
	for _, p := range DefaultPlatforms {
		path := filepath.Join(dir, p.Architecture+"-"+img.Name)
		if err := os.WriteFile(path, []byte("binary of "+img.Name+" for "+p.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		out[p.String()] = path
	}
	return out
}

// platformImages returns the images of idx in its order.
func platformImages(g Gomega, idx v1.ImageIndex) []v1.Image {
	manifest, err := idx.IndexManifest()
	g.Expect(err).NotTo(HaveOccurred())
	var out []v1.Image
	for _, desc := range manifest.Manifests {
		img, err := idx.Image(desc.Digest)
		g.Expect(err).NotTo(HaveOccurred())
		out = append(out, img)
	}
	return out
}

// layerFiles returns the tar headers of every layer of img by name, the upper layer winning.
func layerFiles(g Gomega, img v1.Image) map[string]*tar.Header {
	layers, err := img.Layers()
	g.Expect(err).NotTo(HaveOccurred())
	files := map[string]*tar.Header{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		g.Expect(err).NotTo(HaveOccurred())
		tr := tar.NewReader(rc)
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			g.Expect(err).NotTo(HaveOccurred())
			files[hdr.Name] = hdr
		}
		g.Expect(rc.Close()).To(Succeed())
	}
	return files
}

func TestIndex(t *testing.T) {
	g := NewWithT(t)
	gateway := OCIImages[1]
	g.Expect(gateway.Name).To(Equal("gateway"))
	info := BuildInfo{Version: "v1.2.3", Revision: "0123abc"}
	binaries := standInBinaries(t, gateway)
	idx, err := Index(gateway, info, DefaultPlatforms, binaries)
	g.Expect(err).NotTo(HaveOccurred())

	manifest, err := idx.IndexManifest()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(manifest.MediaType).To(Equal(types.OCIImageIndex))
	g.Expect(manifest.Annotations).To(Equal(Labels(gateway, info)))
	g.Expect(manifest.Manifests).To(HaveLen(2))
	for i, desc := range manifest.Manifests {
		g.Expect(desc.MediaType).To(Equal(types.OCIManifestSchema1))
		g.Expect(*desc.Platform).To(Equal(DefaultPlatforms[i]))
	}

	for i, img := range platformImages(g, idx) {
		cf, err := img.ConfigFile()
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(cf.Architecture).To(Equal(DefaultPlatforms[i].Architecture))
		g.Expect(cf.Config.User).To(Equal("65532:65532"))
		g.Expect(cf.Config.Entrypoint).To(Equal([]string{"/gateway"}))
		g.Expect(cf.Config.ExposedPorts).To(HaveLen(2))
		g.Expect(cf.Config.Labels).To(Equal(map[string]string{
			"org.opencontainers.image.title":       "gateway",
			"org.opencontainers.image.description": gateway.Description,
			"org.opencontainers.image.version":     "v1.2.3",
			"org.opencontainers.image.revision":    "0123abc",
			"org.opencontainers.image.source":      Source,
		}))
		files := layerFiles(g, img)
		g.Expect(files["gateway"]).To(And(HaveField("Mode", int64(0o755)), HaveField("Uid", 0)))
		g.Expect(files["gateway"].Size).To(Equal(int64(len("binary of gateway for " + DefaultPlatforms[i].String()))))
		g.Expect(files["tmp/"]).To(HaveField("Mode", int64(0o1777)))
		g.Expect(files["home/nonroot/"]).To(And(HaveField("Uid", 65532), HaveField("Mode", int64(0o700))))
		g.Expect(files).To(HaveKey("etc/passwd"))
	}

	again, err := Index(gateway, info, DefaultPlatforms, binaries)
	g.Expect(err).NotTo(HaveOccurred())
	d1, err := idx.Digest()
	g.Expect(err).NotTo(HaveOccurred())
	d2, err := again.Digest()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(d2).To(Equal(d1), "the same binaries give the same digest")

	_, err = Index(gateway, info, append(DefaultPlatforms, v1.Platform{OS: "linux", Architecture: "s390x"}), binaries)
	g.Expect(err).To(MatchError(ContainSubstring("no binary for linux/s390x")))
}

func TestBuildOCIRefusesWhatItCannotTag(t *testing.T) {
	g := NewWithT(t)
	_, err := BuildOCI(t.Context(), ".", filepath.Join(t.TempDir(), "out"), OCIImages, DefaultPlatforms, BuildInfo{Version: "v1+dirty"})
	g.Expect(err).To(MatchError(ContainSubstring(`version "v1+dirty" is not a valid image tag`)))
}

func TestReplaceLayoutKeepsWhatIsNotALayout(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	staged := filepath.Join(dir, "staged")
	g.Expect(os.Mkdir(staged, 0o755)).To(Succeed())
	g.Expect(os.WriteFile(filepath.Join(staged, "oci-layout"), nil, 0o644)).To(Succeed())
	other := filepath.Join(dir, "other")
	g.Expect(os.Mkdir(other, 0o755)).To(Succeed())
	g.Expect(replaceLayout(staged, other)).To(MatchError(ContainSubstring("not an OCI image layout")))

	target := filepath.Join(dir, "target")
	g.Expect(replaceLayout(staged, target)).To(Succeed())
	g.Expect(filepath.Join(target, "oci-layout")).To(BeARegularFile())
}

func TestParsePlatforms(t *testing.T) {
	g := NewWithT(t)
	ps, err := ParsePlatforms("linux/amd64, linux/arm64")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ps).To(Equal(DefaultPlatforms))
	_, err = ParsePlatforms("linux")
	g.Expect(err).To(HaveOccurred())
}

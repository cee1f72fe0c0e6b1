package registry

import (
	"archive/tar"
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	. "github.com/onsi/gomega"

	"github.com/stablering/stablering/test/images"
	"github.com/stablering/stablering/test/internal/childproc"
)

// TestImagesThroughRegistry is the path of the project's images to a node: built as `make images`
// builds them, pushed to a registry server on 127.0.0.1, and pulled back by digest, each platform
// checked down to the binary inside.
func TestImagesThroughRegistry(t *testing.T) {
	if reason := SkipReason(); reason != "" {
		t.Skip(reason)
	}
	g := NewWithT(t)
	binary, err := Binary()
	g.Expect(err).NotTo(HaveOccurred())
	root, err := images.ModuleRoot(t.Context())
	g.Expect(err).NotTo(HaveOccurred())
	info := images.BuildInfo{Version: "v0.0.0-registrytest", Revision: "0123abc", Repository: "stablering"}

	start := time.Now()
	layoutDir := filepath.Join(t.TempDir(), "images")
	built, err := images.BuildOCI(t.Context(), root, layoutDir, images.OCIImages, images.DefaultPlatforms, info)
	g.Expect(err).NotTo(HaveOccurred())
	t.Logf("built %d image indexes for %d platforms in %s", len(built), len(images.DefaultPlatforms), time.Since(start).Round(time.Second))

	reg, err := Start(t.Context(), binary, t.TempDir())
	g.Expect(err).NotTo(HaveOccurred())
	pid := reg.Pid()
	defer func() {
		g.Expect(reg.Stop()).To(Succeed())
		g.Expect(syscall.Kill(pid, 0)).To(MatchError(syscall.ESRCH), "the registry (pid %d) has exited", pid)
	}()
	g.Expect(reg.Host).To(HavePrefix("127.0.0.1:"))

	pushed, err := reg.Push(t.Context(), layoutDir)
	g.Expect(err).NotTo(HaveOccurred(), "registry log:\n%s", childproc.Tail(reg.Log, 30))
	g.Expect(pushed).To(HaveLen(len(images.OCIImages)))
	digests := map[string]v1.Hash{}
	for _, b := range built {
		digests[b.Ref] = b.Digest
	}
	for _, p := range pushed {
		g.Expect(p.Digest.DigestStr()).To(Equal(digests[p.Ref].String()), "%s keeps its digest in the registry", p.Ref)
	}

	for _, p := range pushed {
		img := imageOf(g, p.Ref)
		t.Run(img.Name, func(t *testing.T) {
			checkPulled(NewWithT(t), t, p.Digest, img, info)
		})
	}
}

// checkPulled pulls the index at ref, by digest, and checks each platform's image.
func checkPulled(g Gomega, t *testing.T, ref name.Digest, img images.Image, info images.BuildInfo) {
	idx, err := remote.Index(ref, remote.WithContext(t.Context()))
	g.Expect(err).NotTo(HaveOccurred())
	manifest, err := idx.IndexManifest()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(manifest.MediaType).To(Equal(types.OCIImageIndex))
	g.Expect(manifest.Annotations).To(Equal(images.Labels(img, info)))
	var platforms []string
	for _, desc := range manifest.Manifests {
		g.Expect(desc.Platform).NotTo(BeNil())
		platforms = append(platforms, desc.Platform.String())
		image, err := remote.Image(ref.Context().Digest(desc.Digest.String()), remote.WithContext(t.Context()))
		g.Expect(err).NotTo(HaveOccurred())
		cf, err := image.ConfigFile()
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(cf.OS + "/" + cf.Architecture).To(Equal(desc.Platform.String()))
		g.Expect(cf.Config.User).To(Equal("65532:65532"))
		g.Expect(cf.Config.Entrypoint).To(Equal([]string{"/" + img.Name}))
		g.Expect(cf.Config.Labels).To(Equal(images.Labels(img, info)))
		g.Expect(cf.Config.Labels).To(HaveKeyWithValue("org.opencontainers.image.version", info.Version))

		files := extract(g, image, img.Name, "etc/passwd")
		g.Expect(string(files["etc/passwd"])).To(ContainSubstring("nonroot:x:65532:65532:"))
		bin := filepath.Join(t.TempDir(), img.Name)
		g.Expect(os.WriteFile(bin, files[img.Name], 0o755)).To(Succeed())
		versioned := img.Name != "chat" // the chat example has no version
		checkBinary(g, bin, *desc.Platform)
		if versioned {
			g.Expect(files[img.Name]).To(ContainSubstring(info.Version), "%s is stamped with the version", img.Name)
		}
		if versioned && desc.Platform.Architecture == runtime.GOARCH {
			out, err := exec.CommandContext(t.Context(), bin, "--version").CombinedOutput()
			g.Expect(err).NotTo(HaveOccurred(), "%s --version: %s", img.Name, out)
			g.Expect(string(out)).To(HavePrefix(img.Name + " " + info.Version + " ("))
			t.Logf("%s (%s) --version: %s", img.Name, desc.Platform, strings.TrimSpace(string(out)))
		}
	}
	g.Expect(platforms).To(Equal([]string{"linux/amd64", "linux/arm64"}))
}

// checkBinary checks that the binary at path is a static, trimmed Go executable for platform p.
func checkBinary(g Gomega, path string, p v1.Platform) {
	f, err := elf.Open(path)
	g.Expect(err).NotTo(HaveOccurred())
	defer f.Close()
	machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[p.Architecture]
	g.Expect(f.Machine).To(Equal(machine), "%s is an ELF executable for %s", path, p)
	g.Expect(f.Progs).NotTo(ContainElement(HaveField("Type", elf.PT_INTERP)), "%s is statically linked", path)
	bi, err := buildinfo.ReadFile(path)
	g.Expect(err).NotTo(HaveOccurred())
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	g.Expect(settings).To(HaveKeyWithValue("GOARCH", p.Architecture))
	g.Expect(settings).To(HaveKeyWithValue("CGO_ENABLED", "0"))
	g.Expect(settings).To(HaveKeyWithValue("-trimpath", "true"))
}

// extract returns the named files of image's filesystem.
func extract(g Gomega, image v1.Image, names ...string) map[string][]byte {
	rc := mutate.Extract(image)
	defer rc.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		g.Expect(err).NotTo(HaveOccurred())
		for _, n := range names {
			if strings.TrimPrefix(hdr.Name, "/") == n {
				var buf bytes.Buffer
				_, err := io.Copy(&buf, tr)
				g.Expect(err).NotTo(HaveOccurred())
				files[n] = buf.Bytes()
			}
		}
	}
	g.Expect(files).To(HaveLen(len(names)), "the image holds %v", names)
	return files
}

func imageOf(g Gomega, ref string) images.Image {
	for _, img := range images.OCIImages {
		if strings.HasSuffix(ref, "/"+img.Name+":v0.0.0-registrytest") {
			return img
		}
	}
	g.Expect(ref).To(BeEmpty(), "an image of images.OCIImages")
	return images.Image{}
}

package images

import (
	"os/exec"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
)

func TestBuildBuildsWhatItCanAndReportsTheRest(t *testing.T) {
	g := NewWithT(t)
	root, err := ModuleRoot(t.Context())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(filepath.Join(root, "go.mod")).To(BeARegularFile())
	out := t.TempDir()

	built, err := Build(t.Context(), root, out, map[string]string{
		"example.com/hello:v1":          "./test/images/testdata/hello",
		"registry.example.com/hello:v1": "./test/images/testdata/hello",
		"example.com/broken":            "./test/images/testdata/no-such-package",
	})
	g.Expect(err).To(MatchError(ContainSubstring("image example.com/broken: go build")))
	g.Expect(err).To(MatchError(ContainSubstring("no-such-package")), "includes go build's output")
	// Images of one package share its one build.
	g.Expect(built).To(Equal(map[string]string{
		"example.com/hello:v1":          filepath.Join(out, "example.com_hello_v1"),
		"registry.example.com/hello:v1": filepath.Join(out, "example.com_hello_v1"),
	}))
	greeting, err := exec.Command(built["example.com/hello:v1"]).Output()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(greeting)).To(Equal("hello\n"))
}

func TestExecutableName(t *testing.T) {
	g := NewWithT(t)
	g.Expect(ExecutableName("stablering/chat:dev")).To(Equal("stablering_chat_dev"))
	g.Expect(ExecutableName("localhost:5000/a/b@sha256:ab12")).To(Equal("localhost_5000_a_b_sha256_ab12"))
}

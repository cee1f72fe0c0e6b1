package controlplane

import (
	"testing"

	. "github.com/onsi/gomega"
)

func TestBinDirPrefersKubebuilderAssets(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	t.Setenv("KUBEBUILDER_ASSETS", dir)
	got, err := BinDir()
	g.Expect(got).To(Equal(dir))
	g.Expect(err).To(MatchError(ErrBinariesMissing))
	g.Expect(err).To(MatchError(ContainSubstring("make envtest")))
}

func TestBinDirDefaultsToTheScriptsCache(t *testing.T) {
	g := NewWithT(t)
	t.Setenv("KUBEBUILDER_ASSETS", "")
	t.Setenv("STABLERING_CACHE", "")
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	got, err := BinDir()
	g.Expect(err).To(MatchError(ErrBinariesMissing))
	g.Expect(got).To(Equal("/xdg/stablering/controlplane/v" + KubernetesVersion))
	t.Setenv("STABLERING_CACHE", "/cache")
	got, _ = BinDir()
	g.Expect(got).To(Equal("/cache/controlplane/v" + KubernetesVersion))
}

func TestSkipReasonOnlyWhenNotRequired(t *testing.T) {
	g := NewWithT(t)
	t.Setenv("KUBEBUILDER_ASSETS", t.TempDir())
	t.Setenv(RequireEnv, "")
	g.Expect(SkipReason()).To(ContainSubstring("make envtest"))
	t.Setenv(RequireEnv, "1")
	g.Expect(SkipReason()).To(BeEmpty())
}

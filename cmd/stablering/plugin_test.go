package main

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"

	"sigs.k8s.io/yaml"
)

// krewPlugin is the part of a krew plugin manifest (krew.googlecontainertools.github.com/v1alpha2)
// that krew installs from.
type krewPlugin struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		Homepage         string `json:"homepage"`
		ShortDescription string `json:"shortDescription"`
		Description      string `json:"description"`
		Platforms        []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			Sha256 string `json:"sha256"`
			Bin    string `json:"bin"`
		} `json:"platforms"`
	} `json:"spec"`
}

// renderKrewManifest renders the krew-release-bot template plugins/stablering.yaml for tag as the
// bot does, with sha256 standing in for each archive's digest.
func renderKrewManifest(t *testing.T, tag, sha256 string) []byte {
	t.Helper()
	text, err := os.ReadFile("../../plugins/stablering.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := template.New("krew").Funcs(template.FuncMap{
		"addURIAndSha": func(url, tag string) string {
			return fmt.Sprintf("uri: %s\n    sha256: %s", strings.ReplaceAll(url, "{{ .TagName }}", tag), sha256)
		},
	}).Parse(string(text))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, struct{ TagName string }{tag}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestKrewManifest checks the krew manifest rendered for a release: one platform for each
// archive make plugin-archives builds, each archive's release URL, and a binary that calls
// itself "kubectl stablering".
func TestKrewManifest(t *testing.T) {
	const tag, sha256 = "v1.2.3", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	var p krewPlugin
	if err := yaml.UnmarshalStrict(renderKrewManifest(t, tag, sha256), &p); err != nil {
		t.Fatalf("the rendered manifest: %v", err)
	}
	if p.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || p.Kind != "Plugin" || p.Metadata.Name != "stablering" {
		t.Errorf("manifest is %s %s %q, want a krew v1alpha2 Plugin named stablering", p.APIVersion, p.Kind, p.Metadata.Name)
	}
	if p.Spec.Version != tag || p.Spec.Homepage != "https://github.com/stablering/stablering" ||
		p.Spec.ShortDescription == "" || len(p.Spec.ShortDescription) > 70 || p.Spec.Description == "" {
		t.Errorf("spec: version %q, homepage %q, short description %q; want %s, the repository and a short line", p.Spec.Version, p.Spec.Homepage, p.Spec.ShortDescription, tag)
	}

	makefile, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^PLUGIN_PLATFORMS \?= (.+)$`).FindSubmatch(makefile)
	if m == nil {
		t.Fatal("the Makefile sets no PLUGIN_PLATFORMS")
	}
	if !bytes.Contains(makefile, []byte(`"$(RELEASE_DIR)/kubectl-stablering_$(VERSION)_$${os}_$${arch}.tar.gz"`)) {
		t.Fatal("make plugin-archives no longer names its archives kubectl-stablering_VERSION_OS_ARCH.tar.gz")
	}
	var platforms []string
	for _, pl := range p.Spec.Platforms {
		os, arch := pl.Selector.MatchLabels["os"], pl.Selector.MatchLabels["arch"]
		platforms = append(platforms, os+"/"+arch)
		wantURI := fmt.Sprintf("https://github.com/stablering/stablering/releases/download/%s/kubectl-stablering_%s_%s_%s.tar.gz", tag, tag, os, arch)
		wantBin := pluginBinary
		if os == "windows" {
			wantBin += ".exe"
		}
		if pl.URI != wantURI || pl.Sha256 != sha256 || pl.Bin != wantBin || len(pl.Selector.MatchLabels) != 2 {
			t.Errorf("platform %s/%s: uri %s, sha256 %s, bin %s; want %s and bin %s", os, arch, pl.URI, pl.Sha256, pl.Bin, wantURI, wantBin)
		}
		if got := displayName(pl.Bin); got != "kubectl stablering" {
			t.Errorf("platform %s/%s: its binary %s calls itself %q", os, arch, pl.Bin, got)
		}
	}
	if want := strings.Fields(string(m[1])); !slices.Equal(platforms, want) {
		t.Errorf("the manifest's platforms are %v, make plugin-archives builds %v", platforms, want)
	}
}

package images

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

// distroless is the base of the Dockerfile's images, whose users and directories the base layer
// of BuildOCI's images holds.
const distroless = "gcr.io/distroless/static:nonroot"

// TestDockerfileAgrees checks that the Dockerfile's images and those of `make images` have the same
// layout: binary path, user, entrypoint, exposed ports and labels.
func TestDockerfileAgrees(t *testing.T) {
	g := NewWithT(t)
	root, err := ModuleRoot(t.Context())
	g.Expect(err).NotTo(HaveOccurred())
	data, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	g.Expect(err).NotTo(HaveOccurred())
	info := BuildInfo{Version: "v1.2.3", Revision: "0123abc"}
	stages, err := parseDockerfile(string(data), map[string]string{"VERSION": info.Version, "REVISION": info.Revision})
	g.Expect(err).NotTo(HaveOccurred())

	for _, img := range OCIImages {
		st, ok := stages[img.Name]
		g.Expect(ok).To(BeTrue(), "the Dockerfile has a target %s", img.Name)
		g.Expect(st.base).To(Equal(distroless), "target %s", img.Name)
		idx, err := Index(img, info, DefaultPlatforms, standInBinaries(t, img))
		g.Expect(err).NotTo(HaveOccurred())
		for _, image := range platformImages(g, idx) {
			cf, err := image.ConfigFile()
			g.Expect(err).NotTo(HaveOccurred())
			c := cf.Config
			g.Expect(c.Entrypoint).To(Equal(st.entrypoint), "target %s: ENTRYPOINT", img.Name)
			g.Expect(c.User).To(Equal(st.user), "target %s: USER", img.Name)
			g.Expect(slices.Sorted(maps.Keys(c.ExposedPorts))).To(Equal(st.exposed), "target %s: EXPOSE", img.Name)
			g.Expect(c.Labels).To(Equal(st.labels), "target %s: LABEL", img.Name)
			g.Expect(st.copies).To(HaveKeyWithValue(c.Entrypoint[0], HaveSuffix("/"+img.Name)), "target %s copies its binary to the entrypoint", img.Name)
			g.Expect(layerFiles(g, image)).To(HaveKeyWithValue(strings.TrimPrefix(c.Entrypoint[0], "/"), HaveField("Mode", int64(0o755))))
		}
	}
}

// dockerStage is what a Dockerfile's stage says of its image, with what it inherits.
type dockerStage struct {
	base       string            // the image at the root of its FROM chain
	labels     map[string]string // LABEL, expanded
	user       string
	entrypoint []string
	exposed    []string          // EXPOSE as port/protocol, sorted
	copies     map[string]string // COPY destination -> source
}

// parseDockerfile reads the stages of a Dockerfile by name, expanding ${ARG}s declared in a stage
// with buildArgs or the global default. It knows the instructions the project's Dockerfile uses.
func parseDockerfile(data string, buildArgs map[string]string) (map[string]*dockerStage, error) {
	globals := map[string]string{}
	stages := map[string]*dockerStage{}
	var cur *dockerStage
	var vars map[string]string // the ARGs in scope of the current stage
	for _, line := range logicalLines(data) {
		instr, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "ARG":
			name, def, hasDefault := strings.Cut(rest, "=")
			value, given := buildArgs[name]
			switch {
			case given:
			case hasDefault:
				value = def
			case cur != nil:
				value = globals[name] // a global ARG redeclared in a stage
			}
			if cur == nil {
				globals[name] = value
			} else {
				vars[name] = value
			}
		case "FROM":
			fields := slices.DeleteFunc(strings.Fields(rest), func(f string) bool { return strings.HasPrefix(f, "--") })
			if len(fields) != 3 || !strings.EqualFold(fields[1], "AS") {
				return nil, fmt.Errorf("FROM %s: want FROM image AS name", rest)
			}
			cur = &dockerStage{base: fields[0], labels: map[string]string{}, copies: map[string]string{}}
			if parent, ok := stages[fields[0]]; ok { // FROM another stage: inherit its image
				inherited := *parent
				inherited.labels, inherited.copies = maps.Clone(parent.labels), maps.Clone(parent.copies)
				cur = &inherited
			}
			stages[fields[2]] = cur
			vars = map[string]string{}
		case "LABEL":
			pairs, err := splitQuoted(os.Expand(rest, func(k string) string { return vars[k] }))
			if err != nil {
				return nil, fmt.Errorf("LABEL %s: %w", rest, err)
			}
			for _, p := range pairs {
				k, v, _ := strings.Cut(p, "=")
				cur.labels[k] = v
			}
		case "USER":
			cur.user = rest
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(rest), &cur.entrypoint); err != nil {
				return nil, fmt.Errorf("ENTRYPOINT %s: want the exec form: %w", rest, err)
			}
		case "EXPOSE":
			for _, port := range strings.Fields(rest) {
				if !strings.Contains(port, "/") {
					port += "/tcp"
				}
				cur.exposed = append(cur.exposed, port)
			}
			slices.Sort(cur.exposed)
		case "COPY":
			fields := slices.DeleteFunc(strings.Fields(rest), func(f string) bool { return strings.HasPrefix(f, "--") })
			if len(fields) == 2 {
				cur.copies[fields[1]] = fields[0]
			}
		}
	}
	return stages, nil
}

// logicalLines returns the instructions of a Dockerfile: comments dropped, continued lines joined.
func logicalLines(data string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(data, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if body, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(trimmed)
		if s := strings.TrimSpace(cur.String()); s != "" {
			out = append(out, s)
		}
		cur.Reset()
	}
	return out
}

// splitQuoted splits s at spaces outside double quotes, unquoting the quoted parts.
func splitQuoted(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				return nil, fmt.Errorf("unterminated quote")
			}
			v, err := strconv.Unquote(s[i : i+j+2])
			if err != nil {
				return nil, err
			}
			cur.WriteString(v)
			quoted = true
			i += j + 1
		case ' ', '\t':
			if cur.Len() > 0 || quoted {
				out = append(out, cur.String())
			}
			cur.Reset()
			quoted = false
		default:
			cur.WriteByte(c)
		}
	}
	if cur.Len() > 0 || quoted {
		out = append(out, cur.String())
	}
	return out, nil
}

func TestParseDockerfile(t *testing.T) {
	g := NewWithT(t)
	stages, err := parseDockerfile(`# syntax=docker/dockerfile:1
ARG V=dev
ARG NOT_DECLARED=x
FROM example.com/base:1 AS base
ARG V
LABEL a="one two" \
      b=${V} c="$NOT_DECLARED"
USER 1:1

FROM base AS app
COPY --from=build /out/app /app
EXPOSE 80 53/udp
ENTRYPOINT ["/app", "-x"]
`, map[string]string{"V": "v9"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(*stages["app"]).To(Equal(dockerStage{
		base:       "example.com/base:1",
		labels:     map[string]string{"a": "one two", "b": "v9", "c": ""},
		user:       "1:1",
		entrypoint: []string{"/app", "-x"},
		exposed:    []string{"53/udp", "80/tcp"},
		copies:     map[string]string{"/app": "/out/app"},
	}))
	g.Expect(stages["base"].copies).To(BeEmpty(), "a stage does not change the stage it is built on")
}

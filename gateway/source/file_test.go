package source

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/gateway/resolved"
)

const twoRings = `
# a comment before the first document
apiVersion: ring.stablering.io/v1alpha1
kind: StableRing
metadata: {name: chat, namespace: apps}
spec:
  statefulSetName: chat
  port: 8080
  key: {source: Query, name: room}
  unavailable: {policy: Failover, holdSeconds: 0}
status:
  ringVersion: "7f3c"
  memberSlices: [{name: chat-members-0, version: "a1"}]
---
apiVersion: ring.stablering.io/v1alpha1
kind: MemberSlice
metadata: {name: chat-members-0, namespace: apps}
ring: chat
version: "a1"
members:
- {ordinal: 0, address: "10.0.0.1:8080", state: Serving}
- {ordinal: 1, address: "10.0.0.2:8080", state: Draining, lastTransitionTime: "2025-01-01T00:00:00Z"}
---
---
apiVersion: ring.stablering.io/v1alpha1
kind: StableRingList
items:
- metadata: {name: lobby}
  spec:
    statefulSetName: lobby
    port: http
    key: {source: Path, pathSegment: 1}
`

// mustParse parses doc, which must hold n rings.
func mustParse(t *testing.T, doc string, n int) []resolved.Ring {
	t.Helper()
	rings, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(rings) != n {
		t.Fatalf("%d rings, want %d", len(rings), n)
	}
	return rings
}

func TestParse(t *testing.T) {
	rings := mustParse(t, twoRings, 2)
	chat, lobby := rings[0], rings[1]
	if chat.Namespace != "apps" || chat.Status.RingVersion != "7f3c" || len(chat.Members) != 2 ||
		chat.Members[1].State != v1alpha1.MemberDraining || chat.Members[1].LastTransitionTime == nil {
		t.Errorf("chat: %+v with members %+v", chat.StableRing, chat.Members)
	}
	// Explicit values are kept; absent ones get the CRD defaults.
	if chat.Spec.Unavailable.HoldSeconds != 0 || chat.Spec.Rollout.DrainSeconds != 10 {
		t.Errorf("chat defaults: hold %d drain %d", chat.Spec.Unavailable.HoldSeconds, chat.Spec.Rollout.DrainSeconds)
	}
	if lobby.Namespace != "default" || lobby.Spec.Unavailable.HoldSeconds != 60 || *lobby.Spec.Key.PathSegment != 1 || lobby.Members != nil {
		t.Errorf("lobby: %+v with members %+v", lobby.StableRing, lobby.Members)
	}
}

// kubectlList is what `kubectl get stablerings,memberslices -o yaml` writes: one List with
// both kinds, the rings first. Ring chat's members are in two slices, in the order its status
// names them; the slice of a ring the list does not have is ignored.
const kubectlList = `
apiVersion: v1
items:
- apiVersion: ring.stablering.io/v1alpha1
  kind: StableRing
  metadata: {name: chat, namespace: apps, resourceVersion: "7"}
  spec: {statefulSetName: chat, port: 8080, key: {source: Query, name: room}}
  status:
    ringVersion: "7f3c"
    memberSlices: [{name: chat-members-0, version: "a1"}, {name: chat-members-1, version: "b1"}]
- apiVersion: ring.stablering.io/v1alpha1
  kind: MemberSlice
  metadata: {name: chat-members-1, namespace: apps}
  ring: chat
  version: "b1"
  members: [{ordinal: 250, address: "10.0.1.250:8080", state: Serving}]
- apiVersion: ring.stablering.io/v1alpha1
  kind: MemberSlice
  metadata: {name: chat-members-0, namespace: apps}
  ring: chat
  version: "a1"
  members: [{ordinal: 0, address: "10.0.0.1:8080", state: Serving}, {ordinal: 1, state: Pending}]
- apiVersion: ring.stablering.io/v1alpha1
  kind: MemberSlice
  metadata: {name: gone-members-0, namespace: apps}
  ring: gone
  version: "c1"
kind: List
metadata: {resourceVersion: ""}
`

func TestParseKubectlList(t *testing.T) {
	rings := mustParse(t, kubectlList, 1)
	var ordinals []int32
	for _, m := range rings[0].Members {
		ordinals = append(ordinals, m.Ordinal)
	}
	if !slices.Equal(ordinals, []int32{0, 1, 250}) || rings[0].Members[2].Address != "10.0.1.250:8080" {
		t.Errorf("chat's members are %+v, want ordinals 0, 1 and 250 from its two slices", rings[0].Members)
	}
}

// TestParseUnassembled: a ring whose status names a slice the file lacks, or at another version
// than the file's, is an error that names the ring and the slice.
func TestParseUnassembled(t *testing.T) {
	const ring = "kind: StableRing\nmetadata: {name: chat}\nspec: {statefulSetName: chat}\n" +
		"status: {memberSlices: [{name: chat-members-0, version: \"a2\"}]}\n"
	const slice = "---\nkind: MemberSlice\nmetadata: {name: chat-members-0}\nring: chat\nversion: a1\n"
	for name, tc := range map[string]struct{ doc, want string }{
		"missing": {ring, "MemberSlice default/chat-members-0 of StableRing chat does not exist"},
		"another version": {ring + slice,
			"MemberSlice default/chat-members-0 is at version a1, StableRing chat's status names a2"},
		"another ring's": {strings.Replace(ring+slice, "ring: chat", "ring: lobby", 1),
			"MemberSlice default/chat-members-0 belongs to StableRing lobby, not chat"},
	} {
		rings, err := Parse([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %d rings, error %v; want an error with %q", name, len(rings), err, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := map[string]string{
		"unknown field":        "kind: StableRing\nmetadata: {name: a}\nspec: {statefulSetName: a, colour: red}\n",
		"unknown slice field":  "kind: MemberSlice\nmetadata: {name: a-members-0}\nring: a\nversion: v\ncolour: red\n",
		"unknown member field": "kind: MemberSliceList\nitems: [{metadata: {name: a-members-0}, ring: a, version: v, members: [{ordinal: 0, weight: 2}]}]\n",
		"slice in ring list":   "kind: StableRingList\nitems: [{kind: MemberSlice, metadata: {name: a-members-0}}]\n",
		"wrong item kind":      "kind: List\nitems: [{kind: Deployment, metadata: {name: a}}]\n",
		"unnamed slice":        "kind: MemberSlice\nring: a\nversion: v\n",
		"duplicate slice":      "kind: MemberSlice\nmetadata: {name: a-members-0}\n---\nkind: MemberSliceList\nitems: [{metadata: {name: a-members-0, namespace: default}}]\n",
		"wrong kind":           "kind: Deployment\nmetadata: {name: a}\n",
		"wrong version":        "apiVersion: ring.stablering.io/v2\nkind: StableRing\nmetadata: {name: a}\n",
		"no name":              "kind: StableRing\nspec: {statefulSetName: a}\n",
		"not yaml":             "kind: StableRing\n  metadata: [\n",
		"bad item":             "kind: List\nitems: [3]\n",
		"bad spec type":        "kind: StableRing\nmetadata: {name: a}\nspec: 7\n",
		"duplicate":            "kind: StableRing\nmetadata: {name: a}\n---\nkind: StableRing\nmetadata: {name: a, namespace: default}\n",
		"empty object":         "kind: StableRing\nmetadata: {name: a}\n---\n{}\n",
	}
	for name, doc := range cases {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestParseNoDocuments: a file without any document (as a truncated file is) is an error that
// says how to route nothing, not an empty set of rings.
func TestParseNoDocuments(t *testing.T) {
	cases := map[string]string{
		"empty":                  "",
		"blank lines":            "\n  \n\n",
		"whitespace with tabs":   " \n\t\n  \n",
		"comments":               "# rings go here\n  # none yet\n",
		"separator":              "---",
		"separators":             "---\n---\n",
		"comments and separator": "\n---\n# nothing\n",
		"null":                   "null\n---\n~\n",
	}
	for name, doc := range cases {
		rings, err := Parse([]byte(doc))
		if err == nil {
			t.Errorf("%s: %d rings and no error", name, len(rings))
			continue
		}
		if !strings.Contains(err.Error(), "kind: List") || !strings.Contains(err.Error(), "items: []") {
			t.Errorf("%s: the error does not say how to write an empty list: %v", name, err)
		}
	}
}

// TestParseEmptyList: an explicit empty list, with its items key, is the way to route nothing;
// a list whose items are absent, null or not a list is an error.
func TestParseEmptyList(t *testing.T) {
	for name, doc := range map[string]string{
		"List":           "kind: List\nitems: []\n",
		"v1 List":        "apiVersion: v1\nkind: List\nitems: []\n",
		"StableRingList": "# routes nothing\n---\napiVersion: ring.stablering.io/v1alpha1\nkind: StableRingList\nitems: []\n---\n",
		"JSON":           `{"kind": "List", "items": []}`,
	} {
		if rings, err := Parse([]byte(doc)); err != nil || len(rings) != 0 {
			t.Errorf("%s: %v %v", name, names(rings), err)
		}
	}
	for name, doc := range map[string]string{
		"no items":      "kind: List\n",
		"null items":    "kind: StableRingList\nitems:\n",
		"items not set": "kind: List\nitems: {}\n",
		"items scalar":  "kind: List\nitems: 3\n",
	} {
		if rings, err := Parse([]byte(doc)); err == nil {
			t.Errorf("%s: %d rings and no error", name, len(rings))
		}
	}
}

// published collects the snapshots a source publishes.
type published struct {
	mu    sync.Mutex
	snaps [][]resolved.Ring
}

func (p *published) publish(rings []resolved.Ring) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.snaps = append(p.snaps, rings)
}

func (p *published) last() ([]resolved.Ring, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.snaps) == 0 {
		return nil, 0
	}
	return p.snaps[len(p.snaps)-1], len(p.snaps)
}

func ringYAML(name, version string) string {
	return "kind: StableRing\nmetadata: {name: " + name + "}\nspec: {statefulSetName: " + name +
		", port: 80, key: {source: Query, name: room}}\nstatus: {ringVersion: \"" + version + "\"}\n"
}

// replaceFile replaces path's content atomically, by a rename, as editors and ConfigMap
// volumes do.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".rings.tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// startFile runs src until the test ends (then checks Run returned nil) and returns what it
// publishes.
func startFile(t *testing.T, src *File) *published {
	ctx, cancel := context.WithCancel(context.Background())
	var p published
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, p.publish) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return &p
}

func TestFileWatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rings.yaml")
	p := startFile(t, &File{Path: path, Log: testr.New(t), Poll: time.Hour, Settle: 10 * time.Millisecond})

	time.Sleep(50 * time.Millisecond)
	if _, n := p.last(); n != 0 {
		t.Fatal("published before the file existed")
	}
	replaceFile(t, path, ringYAML("chat", "v1"))
	waitFor(t, p, "v1")
	replaceFile(t, path, ringYAML("chat", "v2")+"---\n"+ringYAML("lobby", "v1"))
	waitFor(t, p, "v2")
	if rings, _ := p.last(); len(rings) != 2 {
		t.Fatalf("%d rings after the second write", len(rings))
	}
	_, before := p.last()
	replaceFile(t, path, "kind: StableRing\nmetadata: [broken\n") // ignored: the last good rings stay
	time.Sleep(100 * time.Millisecond)
	if _, n := p.last(); n != before {
		t.Fatal("a broken file was published")
	}
	if err := os.WriteFile(path, []byte(ringYAML("chat", "v3")), 0o600); err != nil { // in place
		t.Fatal(err)
	}
	waitFor(t, p, "v3")
	_, n := p.last()
	if err := os.WriteFile(path, []byte(ringYAML("chat", "v3")), 0o600); err != nil { // same content
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if _, again := p.last(); again != n {
		t.Fatal("unchanged content was published again")
	}
}

// TestFileEmpty: a file truncated to nothing, or to a bare "---", is logged and the previous
// rings stay; an explicit empty list publishes an empty snapshot.
func TestFileEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rings.yaml")
	replaceFile(t, path, ringYAML("chat", "v1"))
	logs := &logLines{t: t}
	p := startFile(t, &File{Path: path, Log: testr.NewWithInterface(logs, testr.Options{}), Poll: time.Hour, Settle: 10 * time.Millisecond})
	waitFor(t, p, "v1")

	// Truncated in place, as a writer that has not written yet leaves it.
	refusals := logs.count("no StableRing document")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitLogged(t, logs, "no StableRing document", refusals)
	if rings, n := p.last(); n != 1 || names(rings) != "chat@v1" {
		t.Fatalf("an empty file was published: snapshot %d is %q", n, names(rings))
	}

	// A good file in between, so the next refusal can only be the one of "---".
	replaceFile(t, path, ringYAML("chat", "v2"))
	waitFor(t, p, "v2")
	refusals = logs.count("no StableRing document")
	replaceFile(t, path, "---\n")
	waitLogged(t, logs, "no StableRing document", refusals)
	if rings, n := p.last(); n != 2 || names(rings) != "chat@v2" {
		t.Fatalf("a bare --- was published: snapshot %d is %q", n, names(rings))
	}

	replaceFile(t, path, "kind: List\nitems: []\n")
	deadline := time.Now().Add(3 * time.Second)
	for {
		rings, n := p.last()
		if n == 3 && len(rings) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the explicit empty list was not published: snapshot %d is %q", n, names(rings))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logLines is a testr sink that logs to t and keeps the lines.
type logLines struct {
	t     *testing.T
	mu    sync.Mutex
	lines []string
}

func (l *logLines) Helper() { l.t.Helper() }

func (l *logLines) Log(args ...any) {
	l.t.Helper()
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprint(args...))
	l.mu.Unlock()
	l.t.Log(args...)
}

// count is the number of lines that contain s.
func (l *logLines) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// waitLogged waits until more than before lines contain s.
func waitLogged(t *testing.T, l *logLines, s string, before int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for l.count(s) <= before {
		if time.Now().After(deadline) {
			t.Fatalf("%q was not logged", s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitFor(t *testing.T, p *published, version string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if rings, _ := p.last(); len(rings) > 0 && rings[0].Status.RingVersion == version {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	rings, _ := p.last()
	t.Fatalf("version %s not published; last %v", version, names(rings))
}

func names(rings []resolved.Ring) string {
	var out []string
	for _, r := range rings {
		out = append(out, r.Name+"@"+r.Status.RingVersion)
	}
	return strings.Join(out, ",")
}

func TestFileMissingDirectory(t *testing.T) {
	src := &File{Path: filepath.Join(t.TempDir(), "nope", "rings.yaml"), Log: testr.New(t)}
	if err := src.Run(context.Background(), func([]resolved.Ring) {}); err == nil {
		t.Fatal("watching a missing directory must fail")
	}
}

package source

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
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
  members:
  - {ordinal: 0, pod: chat-0, address: "10.0.0.1:8080", state: Serving}
  - {ordinal: 1, pod: chat-1, address: "10.0.0.2:8080", state: Draining, lastTransitionTime: "2025-01-01T00:00:00Z"}
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

func TestParse(t *testing.T) {
	rings, err := Parse([]byte(twoRings))
	if err != nil {
		t.Fatal(err)
	}
	if len(rings) != 2 {
		t.Fatalf("%d rings", len(rings))
	}
	chat, lobby := rings[0], rings[1]
	if chat.Namespace != "apps" || chat.Status.RingVersion != "7f3c" || len(chat.Status.Members) != 2 ||
		chat.Status.Members[1].State != v1alpha1.MemberDraining || chat.Status.Members[1].LastTransitionTime == nil {
		t.Errorf("chat: %+v", chat)
	}
	// Explicit values are kept; absent ones get the CRD defaults.
	if chat.Spec.Unavailable.HoldSeconds != 0 || chat.Spec.Rollout.DrainSeconds != 10 {
		t.Errorf("chat defaults: hold %d drain %d", chat.Spec.Unavailable.HoldSeconds, chat.Spec.Rollout.DrainSeconds)
	}
	if lobby.Namespace != "default" || lobby.Spec.Unavailable.HoldSeconds != 60 || *lobby.Spec.Key.PathSegment != 1 {
		t.Errorf("lobby: %+v", lobby)
	}
}

func TestParseErrors(t *testing.T) {
	cases := map[string]string{
		"unknown field": "kind: StableRing\nmetadata: {name: a}\nspec: {statefulSetName: a, colour: red}\n",
		"wrong kind":    "kind: Deployment\nmetadata: {name: a}\n",
		"wrong version": "apiVersion: ring.stablering.io/v2\nkind: StableRing\nmetadata: {name: a}\n",
		"no name":       "kind: StableRing\nspec: {statefulSetName: a}\n",
		"not yaml":      "kind: StableRing\n  metadata: [\n",
		"bad item":      "kind: List\nitems: [3]\n",
		"bad spec type": "kind: StableRing\nmetadata: {name: a}\nspec: 7\n",
		"duplicate":     "kind: StableRing\nmetadata: {name: a}\n---\nkind: StableRing\nmetadata: {name: a, namespace: default}\n",
	}
	for name, doc := range cases {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if rings, err := Parse([]byte("\n---\n# nothing\n")); err != nil || len(rings) != 0 {
		t.Errorf("empty documents: %v %v", rings, err)
	}
}

// published collects the snapshots a source publishes.
type published struct {
	mu    sync.Mutex
	snaps [][]v1alpha1.StableRing
}

func (p *published) publish(rings []v1alpha1.StableRing) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.snaps = append(p.snaps, rings)
}

func (p *published) last() ([]v1alpha1.StableRing, int) {
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

func TestFileWatch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rings.yaml")
	write := func(content string) {
		tmp := filepath.Join(dir, ".rings.tmp")
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var p published
	src := &File{Path: path, Log: testr.New(t), Poll: time.Hour, Settle: 10 * time.Millisecond}
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, p.publish) }()

	time.Sleep(50 * time.Millisecond)
	if _, n := p.last(); n != 0 {
		t.Fatal("published before the file existed")
	}
	write(ringYAML("chat", "v1"))
	waitFor(t, &p, "v1")
	write(ringYAML("chat", "v2") + "---\n" + ringYAML("lobby", "v1")) // replaced by rename
	waitFor(t, &p, "v2")
	if rings, _ := p.last(); len(rings) != 2 {
		t.Fatalf("%d rings after the second write", len(rings))
	}
	_, before := p.last()
	write("kind: StableRing\nmetadata: [broken\n") // ignored: the last good rings stay
	time.Sleep(100 * time.Millisecond)
	if _, n := p.last(); n != before {
		t.Fatal("a broken file was published")
	}
	if err := os.WriteFile(path, []byte(ringYAML("chat", "v3")), 0o600); err != nil { // in place
		t.Fatal(err)
	}
	waitFor(t, &p, "v3")
	_, n := p.last()
	if err := os.WriteFile(path, []byte(ringYAML("chat", "v3")), 0o600); err != nil { // same content
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if _, again := p.last(); again != n {
		t.Fatal("unchanged content was published again")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
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

func names(rings []v1alpha1.StableRing) string {
	var out []string
	for _, r := range rings {
		out = append(out, r.Name+"@"+r.Status.RingVersion)
	}
	return strings.Join(out, ",")
}

func TestFileMissingDirectory(t *testing.T) {
	src := &File{Path: filepath.Join(t.TempDir(), "nope", "rings.yaml"), Log: testr.New(t)}
	if err := src.Run(context.Background(), func([]v1alpha1.StableRing) {}); err == nil {
		t.Fatal("watching a missing directory must fail")
	}
}

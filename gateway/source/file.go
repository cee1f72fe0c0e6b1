package source

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-logr/logr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
)

// File publishes the StableRings of a YAML (or JSON) file and republishes them whenever the
// file's content changes. It watches the file's directory, so editors that replace the file
// and Kubernetes ConfigMap volumes (which swap a symlink) are picked up, and it also polls as
// a safety net. A file that does not parse is logged and ignored: the previous snapshot stays.
// So is a file without any document (empty, blank, only comments or "---"), which is what a
// file being written or truncated looks like: to route nothing, the file must hold an explicit
// empty list (see [Parse]).
type File struct {
	// Path is the file.
	Path string
	// Log receives parse and watch errors.
	Log logr.Logger
	// Poll is how often the file is read even without a change notification; 0 is 2s.
	Poll time.Duration
	// Settle is how long the directory must be quiet after a notification before the file is
	// read, so a file being written is not read half-way; 0 is 50ms.
	Settle time.Duration
}

// Run publishes the file's rings once it parses, then on every change, until ctx ends. Until
// the file first parses (it is missing, empty or invalid) nothing is published.
func (f *File) Run(ctx context.Context, publish Publish) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching %s: %w", f.Path, err)
	}
	defer func() { _ = w.Close() }()
	if err := w.Add(filepath.Dir(f.Path)); err != nil {
		return fmt.Errorf("watching the directory of %s: %w", f.Path, err)
	}
	poll := time.NewTicker(orDefault(f.Poll, 2*time.Second))
	defer poll.Stop()
	settle := time.NewTimer(0) // read at once
	defer settle.Stop()
	var last [sha256.Size]byte
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.Events:
			settle.Reset(orDefault(f.Settle, 50*time.Millisecond))
		case err := <-w.Errors:
			f.Log.Error(err, "watching rings file", "path", f.Path)
		case <-poll.C:
			f.load(&last, publish)
		case <-settle.C:
			f.load(&last, publish)
		}
	}
}

// load reads and parses the file and publishes it when its content differs from last.
func (f *File) load(last *[sha256.Size]byte, publish Publish) {
	data, err := os.ReadFile(f.Path)
	if err != nil {
		f.Log.Error(err, "reading rings file", "path", f.Path)
		return
	}
	sum := sha256.Sum256(data)
	if sum == *last {
		return
	}
	*last = sum // a content that does not parse is logged once, not at every poll
	rings, err := Parse(data)
	if err != nil {
		f.Log.Error(err, "rings file does not parse; keeping the previous rings", "path", f.Path)
		return
	}
	f.Log.Info("rings file loaded", "path", f.Path, "rings", len(rings))
	publish(rings)
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Parse reads StableRings from YAML or JSON: any number of documents separated by "---",
// each a StableRing or a list of them (kind StableRingList or List, with an items list).
// Empty documents (blank, only comments, null) are skipped, but data without any other
// document is an error, not zero rings: an empty or truncated file must not remove every
// ring. The only way to get zero rings is an explicit empty list, a document such as
//
//	kind: List
//	items: []
//
// whose items key is present and a list (absent or null items are an error). Unknown fields
// and a ring named twice are errors. Fields the StableRing CRD defaults and the gateway uses
// get the CRD's defaults when absent (the API server applies them for rings read from
// Kubernetes): holdSeconds 60, drainSeconds 10. A missing namespace is "default".
func Parse(data []byte) ([]v1alpha1.StableRing, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var rings []v1alpha1.StableRing
	seen := map[string]bool{}
	documents := 0
	for doc := 1; ; doc++ {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			if documents == 0 {
				return nil, errNoDocuments
			}
			if rings == nil {
				rings = []v1alpha1.StableRing{} // explicit empty lists
			}
			return rings, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", doc, err)
		}
		got, present, err := parseDocument(raw)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", doc, err)
		}
		if !present {
			continue
		}
		documents++
		for _, sr := range got {
			if seen[sr.Namespace+"/"+sr.Name] {
				return nil, fmt.Errorf("document %d: StableRing %s/%s appears twice", doc, sr.Namespace, sr.Name)
			}
			seen[sr.Namespace+"/"+sr.Name] = true
		}
		rings = append(rings, got...)
	}
}

// errNoDocuments is Parse's error for data without any document.
var errNoDocuments = errors.New("no StableRing document (the file is empty, blank, or only comments and \"---\"); " +
	"an empty file is refused, so that a truncated file does not remove every ring; " +
	"to route nothing, write an explicit empty list: \"kind: List\" with \"items: []\"")

// parseDocument parses one YAML document: a StableRing or a list, or nothing (present is
// false) when the document is blank, only comments or null.
func parseDocument(raw []byte) (rings []v1alpha1.StableRing, present bool, err error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, false, nil
	}
	var obj map[string]any
	if err := yaml.Unmarshal(raw, &obj); err != nil {
		return nil, false, err
	}
	if obj == nil {
		return nil, false, nil
	}
	switch kind, _ := obj["kind"].(string); kind {
	case "StableRing":
		sr, err := decodeRing(obj)
		if err != nil {
			return nil, true, err
		}
		return []v1alpha1.StableRing{sr}, true, nil
	case "StableRingList", "List":
		rings, err := decodeList(obj)
		return rings, true, err
	default:
		return nil, true, fmt.Errorf("kind %q is not StableRing, StableRingList or List", kind)
	}
}

// decodeList decodes a list's items, which must be present and a list (possibly empty).
func decodeList(obj map[string]any) ([]v1alpha1.StableRing, error) {
	items, ok := obj["items"].([]any)
	if !ok {
		return nil, errors.New("items must be present and a list (items: [] for no rings)")
	}
	rings := make([]v1alpha1.StableRing, 0, len(items))
	for i, item := range items {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("items[%d] is not an object", i)
		}
		if kind, _ := m["kind"].(string); kind != "" && kind != "StableRing" {
			return nil, fmt.Errorf("items[%d]: kind %q is not StableRing", i, kind)
		}
		sr, err := decodeRing(m)
		if err != nil {
			return nil, fmt.Errorf("items[%d]: %w", i, err)
		}
		rings = append(rings, sr)
	}
	return rings, nil
}

// crdDefaults are the CRD defaults the gateway depends on, by field path.
var crdDefaults = []struct {
	path  []string
	value any
}{
	{[]string{"spec", "unavailable", "holdSeconds"}, 60},
	{[]string{"spec", "rollout", "drainSeconds"}, 10},
}

// decodeRing applies CRD defaults to obj and decodes it strictly.
func decodeRing(obj map[string]any) (v1alpha1.StableRing, error) {
	var sr v1alpha1.StableRing
	if av, _ := obj["apiVersion"].(string); av != "" && av != v1alpha1.GroupVersion.String() {
		return sr, fmt.Errorf("apiVersion %q is not %s", av, v1alpha1.GroupVersion)
	}
	for _, d := range crdDefaults {
		setDefault(obj, d.value, d.path...)
	}
	data, err := json.Marshal(obj)
	if err != nil {
		return sr, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sr); err != nil {
		return sr, err
	}
	if sr.Name == "" {
		return sr, errors.New("metadata.name is required")
	}
	if sr.Namespace == "" {
		sr.Namespace = "default"
	}
	return sr, nil
}

// setDefault sets obj[path...] to value when absent, creating intermediate objects.
func setDefault(obj map[string]any, value any, path ...string) {
	for _, p := range path[:len(path)-1] {
		next, ok := obj[p].(map[string]any)
		if !ok {
			if obj[p] != nil {
				return // not an object: leave it for the decoder to report
			}
			next = map[string]any{}
			obj[p] = next
		}
		obj = next
	}
	if _, ok := obj[path[len(path)-1]]; !ok {
		obj[path[len(path)-1]] = value
	}
}

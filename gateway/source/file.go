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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/gateway/resolved"
)

// File publishes the StableRings of a YAML (or JSON) file, with their members from the
// MemberSlices in the same file (see [Parse]), and republishes them whenever the file's content
// changes. It watches the file's directory, so editors that replace the file and Kubernetes
// ConfigMap volumes (which swap a symlink) are picked up, and it also polls as a safety net. A
// file that does not parse, or has a ring whose MemberSlices are not those its status names, is
// logged and ignored: the previous snapshot stays.
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

// Parse reads StableRings and their MemberSlices from YAML or JSON, as `kubectl get
// stablerings,memberslices -o yaml` writes them: any number of documents separated by "---",
// each a StableRing, a MemberSlice, or a list of them (kind StableRingList or MemberSliceList,
// or List with items of both kinds; an item without a kind is of the list's kind, StableRing in
// a List). It returns every ring with its members, assembled from the MemberSlices its status
// names; a ring whose slices are missing or at another version than its status names is an
// error naming them (slices that no ring names are ignored).
//
// Empty documents (blank, only comments, null) are skipped, but data without any other
// document is an error, not zero rings: an empty or truncated file must not remove every
// ring. The only way to get zero rings is an explicit empty list, a document such as
//
//	kind: List
//	items: []
//
// whose items key is present and a list (absent or null items are an error). Unknown fields
// and an object named twice are errors. Fields the StableRing CRD defaults and the gateway uses
// get the CRD's defaults when absent (the API server applies them for rings read from
// Kubernetes): holdSeconds 60, drainSeconds 10. A missing namespace is "default".
func Parse(data []byte) ([]resolved.Ring, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var all objects
	seen := map[string]bool{}
	documents := 0
	for doc := 1; ; doc++ {
		raw, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
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
		for _, id := range got.ids() {
			if seen[id] {
				return nil, fmt.Errorf("document %d: %s appears twice", doc, id)
			}
			seen[id] = true
		}
		all.rings = append(all.rings, got.rings...)
		all.slices = append(all.slices, got.slices...)
	}
	if documents == 0 {
		return nil, errNoDocuments
	}
	return resolved.Assemble(all.rings, all.slices)
}

// errNoDocuments is Parse's error for data without any document.
var errNoDocuments = errors.New("no StableRing document (the file is empty, blank, or only comments and \"---\"); " +
	"an empty file is refused, so that a truncated file does not remove every ring; " +
	"to route nothing, write an explicit empty list: \"kind: List\" with \"items: []\"")

// objects are the StableRings and MemberSlices of a document or a file.
type objects struct {
	rings  []v1alpha1.StableRing
	slices []v1alpha1.MemberSlice
}

// ids names each object: its kind, namespace and name.
func (o *objects) ids() []string {
	ids := make([]string, 0, len(o.rings)+len(o.slices))
	for _, sr := range o.rings {
		ids = append(ids, "StableRing "+sr.Namespace+"/"+sr.Name)
	}
	for _, s := range o.slices {
		ids = append(ids, "MemberSlice "+s.Namespace+"/"+s.Name)
	}
	return ids
}

// add decodes obj as an object of kind, StableRing or MemberSlice, and adds it.
func (o *objects) add(kind string, obj map[string]any) error {
	switch kind {
	case "StableRing":
		sr, err := decodeRing(obj)
		if err != nil {
			return err
		}
		o.rings = append(o.rings, sr)
	case "MemberSlice":
		var s v1alpha1.MemberSlice
		if err := decodeStrict(obj, &s); err != nil {
			return err
		}
		o.slices = append(o.slices, s)
	default:
		return fmt.Errorf("kind %q is not StableRing or MemberSlice", kind)
	}
	return nil
}

// itemKinds are the kinds of list Parse reads, and the kind of their items that have none.
var itemKinds = map[string]string{"StableRingList": "StableRing", "MemberSliceList": "MemberSlice", "List": "StableRing"}

// parseDocument parses one YAML document: a StableRing, a MemberSlice or a list, or nothing
// (present is false) when the document is blank, only comments or null.
func parseDocument(raw []byte) (got objects, present bool, err error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return got, false, nil
	}
	var obj map[string]any
	if err := yaml.Unmarshal(raw, &obj); err != nil {
		return got, false, err
	}
	if obj == nil {
		return got, false, nil
	}
	kind, _ := obj["kind"].(string)
	switch kind {
	case "StableRing", "MemberSlice":
		return got, true, got.add(kind, obj)
	case "StableRingList", "MemberSliceList", "List":
		return got, true, got.addList(kind, obj)
	default:
		return got, true, fmt.Errorf("kind %q is not StableRing, MemberSlice, StableRingList, MemberSliceList or List", kind)
	}
}

// addList decodes and adds a list's items, which must be present and a list (possibly empty).
// The items of a StableRingList or MemberSliceList must be of its kind.
func (o *objects) addList(listKind string, obj map[string]any) error {
	items, ok := obj["items"].([]any)
	if !ok {
		return errors.New("items must be present and a list (items: [] for no rings)")
	}
	for i, item := range items {
		m, ok := item.(map[string]any)
		if !ok {
			return fmt.Errorf("items[%d] is not an object", i)
		}
		kind, _ := m["kind"].(string)
		if kind == "" {
			kind = itemKinds[listKind]
		} else if listKind != "List" && kind != itemKinds[listKind] {
			return fmt.Errorf("items[%d]: kind %q is not %s", i, kind, itemKinds[listKind])
		}
		if err := o.add(kind, m); err != nil {
			return fmt.Errorf("items[%d]: %w", i, err)
		}
	}
	return nil
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
	for _, d := range crdDefaults {
		setDefault(obj, d.value, d.path...)
	}
	err := decodeStrict(obj, &sr)
	return sr, err
}

// decodeStrict decodes obj into out, a StableRing or a MemberSlice: unknown fields, another
// apiVersion and a missing name are errors; a missing namespace is "default".
func decodeStrict(obj map[string]any, out metav1.Object) error {
	if av, _ := obj["apiVersion"].(string); av != "" && av != v1alpha1.GroupVersion.String() {
		return fmt.Errorf("apiVersion %q is not %s", av, v1alpha1.GroupVersion)
	}
	data, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return err
	}
	if out.GetName() == "" {
		return errors.New("metadata.name is required")
	}
	if out.GetNamespace() == "" {
		out.SetNamespace("default")
	}
	return nil
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

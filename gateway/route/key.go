package route

import (
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
)

// Key says where a ring reads the room key of a request.
type Key struct {
	// Source is Header, Query, Cookie or Path.
	Source v1alpha1.KeySource
	// Name is the header, query parameter or cookie name.
	Name string
	// Segment is the 0-based path segment, for Path.
	Segment int

	header string // canonical header name, for Header
	where  string // for messages: `query parameter "room"`
}

// Errors of Key.Extract.
var (
	// ErrKeyMissing: the request has no (or an empty) room key where the ring expects it.
	ErrKeyMissing = errors.New("room key missing")
	// ErrKeyInvalid: the room key is not valid percent-encoding.
	ErrKeyInvalid = errors.New("room key is not valid percent-encoding")
)

// maxPathSegment is the largest pathSegment (as in the StableRing API).
const maxPathSegment = 64

// newKey validates a key spec.
func newKey(spec v1alpha1.KeySpec) (Key, error) {
	k := Key{Source: spec.Source, Name: spec.Name}
	switch spec.Source {
	case v1alpha1.KeySourceHeader, v1alpha1.KeySourceQuery, v1alpha1.KeySourceCookie:
		if spec.Name == "" {
			return k, fmt.Errorf("key.name is required for key.source %s", spec.Source)
		}
		k.header = textproto.CanonicalMIMEHeaderKey(spec.Name)
		k.where = fmt.Sprintf("%s %q", sourceNoun(spec.Source), spec.Name)
	case v1alpha1.KeySourcePath:
		if spec.PathSegment == nil || *spec.PathSegment < 0 || *spec.PathSegment > maxPathSegment {
			return k, fmt.Errorf("key.pathSegment must be set from 0 to %d for key.source Path", maxPathSegment)
		}
		k.Segment = int(*spec.PathSegment)
		k.where = "path segment " + strconv.Itoa(k.Segment) + " (0-based) of the URL path"
	default:
		return k, fmt.Errorf("key.source %q is not Header, Query, Cookie or Path", spec.Source)
	}
	return k, nil
}

func sourceNoun(s v1alpha1.KeySource) string {
	switch s {
	case v1alpha1.KeySourceHeader:
		return "header"
	case v1alpha1.KeySourceQuery:
		return "query parameter"
	default:
		return "cookie"
	}
}

// Where describes where the key is read, for messages: `query parameter "room"`.
func (k *Key) Where() string { return k.where }

// Extract reads the room key of r. It fails with ErrKeyMissing when the key is absent or empty
// and with ErrKeyInvalid when it cannot be decoded. It allocates only to decode escaped keys.
func (k *Key) Extract(r *http.Request) (string, error) {
	var key string
	var err error
	switch k.Source {
	case v1alpha1.KeySourceHeader:
		if v := r.Header[k.header]; len(v) > 0 {
			key = strings.TrimSpace(v[0])
		}
	case v1alpha1.KeySourceQuery:
		key, err = queryValue(r.URL.RawQuery, k.Name)
	case v1alpha1.KeySourceCookie:
		key = cookieValue(r.Header["Cookie"], k.Name)
	case v1alpha1.KeySourcePath:
		key, err = pathSegment(r.URL, k.Segment)
	}
	if err != nil {
		return "", err
	}
	if key == "" {
		return "", ErrKeyMissing
	}
	return key, nil
}

// queryValue returns the first value of the query parameter name in a raw query, decoded as
// url.ParseQuery does.
func queryValue(raw, name string) (string, error) {
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(pair, "=")
		if !queryNameIs(k, name) {
			continue
		}
		if !strings.ContainsAny(v, "%+") {
			return v, nil
		}
		decoded, err := url.QueryUnescape(v)
		if err != nil {
			return "", ErrKeyInvalid
		}
		return decoded, nil
	}
	return "", nil
}

// queryNameIs reports whether the raw (possibly escaped) parameter name k is name.
func queryNameIs(k, name string) bool {
	if k == name {
		return true
	}
	if !strings.ContainsAny(k, "%+") {
		return false
	}
	decoded, err := url.QueryUnescape(k)
	return err == nil && decoded == name
}

// cookieValue returns the value of the first cookie called name in Cookie header lines, with
// surrounding double quotes removed.
func cookieValue(lines []string, name string) string {
	for _, line := range lines {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			k, v, ok := strings.Cut(textproto.TrimString(part), "=")
			if !ok || k != name {
				continue
			}
			if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v
		}
	}
	return ""
}

// pathSegment returns segment i (0-based, after the leading slash) of the URL's path,
// decoded. Segments are split on the escaped path, so an encoded slash (%2F) stays inside its
// segment.
func pathSegment(u *url.URL, i int) (string, error) {
	p, escaped := u.Path, false
	if u.RawPath != "" {
		p, escaped = u.RawPath, true
	}
	p = strings.TrimPrefix(p, "/")
	for ; i > 0; i-- {
		_, rest, ok := strings.Cut(p, "/")
		if !ok {
			return "", nil
		}
		p = rest
	}
	seg, _, _ := strings.Cut(p, "/")
	if !escaped || !strings.Contains(seg, "%") {
		return seg, nil
	}
	decoded, err := url.PathUnescape(seg)
	if err != nil {
		return "", ErrKeyInvalid
	}
	return decoded, nil
}

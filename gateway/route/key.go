package route

import (
	"errors"
	"fmt"
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
	// ErrKeyDuplicate: the room key is given more than once where the ring reads it: a query
	// parameter name twice, the header in more than one line, or the cookie name twice across
	// all Cookie lines. A member that read another of the values than the ring would serve a
	// room on another room's member, splitting it. Any repetition is refused, even with equal
	// values: simple and strict.
	ErrKeyDuplicate = errors.New("room key given more than once")
)

// maxPathSegment is the largest pathSegment (as in the StableRing API).
const maxPathSegment = 64

// newKey validates a key spec.
func newKey(spec v1alpha1.KeySpec) (Key, error) {
	k := Key{Source: spec.Source, Name: spec.Name}
	var noun string
	switch spec.Source {
	case v1alpha1.KeySourceHeader:
		noun = "header"
	case v1alpha1.KeySourceQuery:
		noun = "query parameter"
	case v1alpha1.KeySourceCookie:
		noun = "cookie"
	case v1alpha1.KeySourcePath:
		if spec.PathSegment == nil || *spec.PathSegment < 0 || *spec.PathSegment > maxPathSegment {
			return k, fmt.Errorf("key.pathSegment must be set from 0 to %d for key.source Path", maxPathSegment)
		}
		k.Segment = int(*spec.PathSegment)
		k.where = "path segment " + strconv.Itoa(k.Segment) + " (0-based) of the URL path"
		return k, nil
	default:
		return k, fmt.Errorf("key.source %q is not Header, Query, Cookie or Path", spec.Source)
	}
	if spec.Name == "" {
		return k, fmt.Errorf("key.name is required for key.source %s", spec.Source)
	}
	k.header = textproto.CanonicalMIMEHeaderKey(spec.Name)
	k.where = fmt.Sprintf("%s %q", noun, spec.Name)
	return k, nil
}

// Where describes where the key is read, for messages: `query parameter "room"`.
func (k *Key) Where() string { return k.where }

// Extract reads the room key of r. It fails with ErrKeyDuplicate when the key is given more
// than once (even with equal values), with ErrKeyMissing when it is absent or empty, and with
// ErrKeyInvalid when it cannot be decoded; a duplicate is reported before the value is looked
// at. It allocates only to decode escaped keys and escaped query parameter names.
func (k *Key) Extract(r Request) (string, error) {
	var key string
	var err error
	switch k.Source {
	case v1alpha1.KeySourceHeader:
		if _, twice := r.HeaderValue(k.header, 1); twice {
			err = ErrKeyDuplicate
		} else if v, ok := r.HeaderValue(k.header, 0); ok {
			key = strings.TrimSpace(v)
		}
	case v1alpha1.KeySourceQuery:
		key, err = queryValue(r.RawQuery(), k.Name)
	case v1alpha1.KeySourceCookie:
		key, err = cookieValue(r, k.Name)
	case v1alpha1.KeySourcePath:
		key, err = pathSegment(r.Path(), r.RawPath(), k.Segment)
	default: // newKey admits no other source
		return "", fmt.Errorf("key.source %q is not Header, Query, Cookie or Path", k.Source)
	}
	if err != nil {
		return "", err
	}
	if key == "" {
		return "", ErrKeyMissing
	}
	return key, nil
}

// queryValue returns the value of the query parameter name in a raw query, decoded as
// url.ParseQuery does, or ErrKeyDuplicate when a parameter of that name (compared after
// decoding, so r%6Fom is room) appears more than once, with or without a value.
func queryValue(raw, name string) (string, error) {
	var v string
	found := false
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		k, val, _ := strings.Cut(pair, "=")
		if !queryNameIs(k, name) {
			continue
		}
		if found {
			return "", ErrKeyDuplicate
		}
		v, found = val, true
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

// cookieValue returns the value of the cookie called name in Cookie header lines, with
// surrounding double quotes removed, or ErrKeyDuplicate when the name appears more than once
// across all lines. Names are compared as net/http's readCookies does: trimmed, so "room =a"
// is room, and a bare name without '=' is an (empty) occurrence.
func cookieValue(r Request, name string) (string, error) {
	var v string
	found := false
	for i := 0; ; i++ {
		line, ok := r.HeaderValue("Cookie", i)
		if !ok {
			break
		}
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			k, val, _ := strings.Cut(textproto.TrimString(part), "=")
			if textproto.TrimString(k) != name {
				continue
			}
			if found {
				return "", ErrKeyDuplicate
			}
			v, found = val, true
		}
	}
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	return v, nil
}

// pathSegment returns segment i (0-based, after the leading slash) of a path, decoded, given
// decoded and as sent (rawPath, "" when it is the default encoding). Segments are split on the
// escaped path, so an encoded slash (%2F) stays inside its segment.
func pathSegment(path, rawPath string, i int) (string, error) {
	p, escaped := path, false
	if rawPath != "" {
		p, escaped = rawPath, true
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

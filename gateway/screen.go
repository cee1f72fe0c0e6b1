package gateway

import (
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// This file screens a request before it is routed: the limits of its head, the headers the
// gateway drops, protocol switches it refuses and the normal form of its path. body.go bounds
// the reading of its body.

// refusal is the gateway's answer to a request it will not route; zero status routes it.
type refusal struct {
	status int
	why    string
	close  bool // close the client connection after the answer
}

// screen checks and normalises r. It drops header fields whose names contain an underscore
// (as nginx does by default: CGI-style members read X_Room and X-Room alike), refuses more
// than MaxHeaders fields with 431, strips an h2c upgrade so the request is proxied as plain
// HTTP/1.1 (the gateway does not switch a member's connection to HTTP/2), refuses
// percent-encoded slashes in the path with 400 and resolves dot segments, so the path matched
// against pathPrefix is the path the member gets. It returns the request to route, which is r
// or a copy with a new URL.
func (g *Gateway) screen(r *http.Request) (*http.Request, refusal) {
	n := 0
	for name, values := range r.Header {
		n += len(values)
		if strings.IndexByte(name, '_') >= 0 {
			delete(r.Header, name)
		}
	}
	if n > g.opts.MaxHeaders {
		return r, refusal{status: http.StatusRequestHeaderFieldsTooLarge,
			why: "the request has more header fields than the gateway's limit"}
	}
	if httpguts.HeaderValuesContainsToken(r.Header["Upgrade"], "h2c") {
		stripH2CUpgrade(r.Header)
	}
	if hasEncodedSlash(r.URL.RawPath) {
		return r, refusal{status: http.StatusBadRequest,
			why: "the request path contains a percent-encoded slash or backslash"}
	}
	if clean, changed := removeDotSegments(r.URL.Path); changed {
		u := *r.URL
		u.Path, u.RawPath = clean, ""
		r2 := *r
		r2.URL = &u
		return &r2, refusal{}
	}
	return r, refusal{}
}

// stripH2CUpgrade removes an h2c upgrade offer (Upgrade, HTTP2-Settings and their Connection
// tokens) from h.
func stripH2CUpgrade(h http.Header) {
	delete(h, "Upgrade")
	delete(h, "Http2-Settings")
	delete(h, "Connection")
}

// hasEncodedSlash reports whether an escaped path contains %2F or %5C (either case).
func hasEncodedSlash(raw string) bool {
	for i := strings.IndexByte(raw, '%'); i >= 0 && i+2 < len(raw); {
		if e := raw[i+1 : i+3]; strings.EqualFold(e, "2f") || strings.EqualFold(e, "5c") {
			return true
		}
		next := strings.IndexByte(raw[i+1:], '%')
		if next < 0 {
			break
		}
		i += 1 + next
	}
	return false
}

// removeDotSegments resolves the "." and ".." segments of an absolute path as RFC 3986
// section 5.2.4 does, keeping empty segments and a trailing slash; changed is false (and no
// allocation made) when the path has none.
func removeDotSegments(p string) (string, bool) {
	if !hasDotSegment(p) {
		return p, false
	}
	var out []string
	segs := strings.Split(p, "/")[1:] // p starts with "/"
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case ".":
			if last {
				out = append(out, "")
			}
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	return "/" + strings.Join(out, "/"), true
}

// hasDotSegment reports whether a path has a segment that is "." or "..".
func hasDotSegment(p string) bool {
	for i := 0; i < len(p); {
		j := strings.IndexByte(p[i:], '/')
		var seg string
		if j < 0 {
			seg, i = p[i:], len(p)
		} else {
			seg, i = p[i:i+j], i+j+1
		}
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

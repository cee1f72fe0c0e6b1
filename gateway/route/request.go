package route

import "net/http"

// Request is what routing reads of a request. Any serving path provides it over its own
// representation of the request; none of its methods may allocate, so routing allocates
// nothing either.
type Request interface {
	// Host is the request's host, as sent (with or without a port).
	Host() string
	// Path is the decoded path, which pathPrefix matches.
	Path() string
	// RawPath is the path as sent when it differs from the default encoding of Path, else "".
	RawPath() string
	// RawQuery is the query as sent, without '?'.
	RawQuery() string
	// HeaderValue returns line i (0-based) of the header field name, given in canonical form
	// ("X-Room", "Cookie"), and whether there is such a line.
	HeaderValue(name string, i int) (string, bool)
}

// HTTPRequest is the Request of a net/http request. It holds one pointer, so passing it as a
// Request allocates nothing.
type HTTPRequest struct{ R *http.Request }

// Host implements Request.
func (r HTTPRequest) Host() string { return r.R.Host }

// Path implements Request.
func (r HTTPRequest) Path() string { return r.R.URL.Path }

// RawPath implements Request.
func (r HTTPRequest) RawPath() string { return r.R.URL.RawPath }

// RawQuery implements Request.
func (r HTTPRequest) RawQuery() string { return r.R.URL.RawQuery }

// HeaderValue implements Request.
func (r HTTPRequest) HeaderValue(name string, i int) (string, bool) {
	if v := r.R.Header[name]; i < len(v) {
		return v[i], true
	}
	return "", false
}

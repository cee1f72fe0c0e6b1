package gateway

import (
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// answerWriter is the http.ResponseWriter of the gateway's own answers (answer.go) on its
// HTTP/1.1 path: it gathers the header and the one-line body, and flush writes them at once
// with Content-Length and Date, as net/http's server would.
type answerWriter struct {
	hc     *h1Conn
	header http.Header
	code   int
	body   []byte
	keep   bool // the connection stays open after the answer
}

// answerTo returns the connection's answer writer, reset.
func (hc *h1Conn) answerTo(keep bool) *answerWriter {
	w := &hc.answer
	if w.header == nil {
		w.header = http.Header{}
	}
	clear(w.header)
	w.hc, w.code, w.body, w.keep = hc, 0, w.body[:0], keep
	return w
}

// Header implements http.ResponseWriter.
func (w *answerWriter) Header() http.Header { return w.header }

// WriteHeader implements http.ResponseWriter.
func (w *answerWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

// Write implements http.ResponseWriter.
func (w *answerWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	w.body = append(w.body, p...)
	return len(p), nil
}

// flush writes the answer, without its body to a HEAD request, and reports whether it was
// written.
func (w *answerWriter) flush() bool {
	out := w.hc.out[:0]
	out = append(out, "HTTP/1.1 "...)
	out = strconv.AppendInt(out, int64(w.code), 10)
	out = append(out, ' ')
	out = append(out, http.StatusText(w.code)...)
	out = append(out, "\r\n"...)
	for _, name := range slices.Sorted(maps.Keys(w.header)) {
		for _, v := range w.header[name] {
			out = append(out, name...)
			out = append(out, ": "...)
			out = append(out, v...)
			out = append(out, "\r\n"...)
		}
	}
	out = append(out, "Content-Length: "...)
	out = strconv.AppendInt(out, int64(len(w.body)), 10)
	out = append(out, "\r\nDate: "...)
	out = time.Now().UTC().AppendFormat(out, http.TimeFormat)
	out = append(out, "\r\n"...)
	if !w.keep {
		out = append(out, "Connection: close\r\n"...)
	}
	out = append(out, "\r\n"...)
	if w.hc.req.Method() != http.MethodHead {
		out = append(out, w.body...)
	}
	w.hc.out = out
	return w.hc.write(out)
}

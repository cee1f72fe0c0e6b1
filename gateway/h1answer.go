package gateway

import (
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// answerWriter is the http.ResponseWriter of the gateway's own answers (answer.go) on its
// HTTP/1.1 paths, the goroutines' and the event loops': it gathers the header and the
// one-line body, and appendTo writes them out at once with Content-Length and Date, as
// net/http's server would.
type answerWriter struct {
	header http.Header
	code   int
	body   []byte
	keep   bool // the connection stays open after the answer
	head   bool // the answer is to a HEAD request: no body
}

// reset makes w ready for a new answer.
func (w *answerWriter) reset(keep, head bool) {
	if w.header == nil {
		w.header = http.Header{}
	}
	clear(w.header)
	w.code, w.body, w.keep, w.head = 0, w.body[:0], keep, head
}

// answerTo returns the connection's answer writer, reset.
func (hc *h1Conn) answerTo(keep bool) *answerWriter {
	hc.answer.reset(keep, hc.req.Method() == http.MethodHead)
	return &hc.answer
}

// flush writes the answer in w, and reports whether it was written.
func (hc *h1Conn) flush(w *answerWriter) bool {
	hc.out = w.appendTo(hc.out[:0])
	return hc.write(hc.out)
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

// appendTo appends the answer to out, without its body to a HEAD request, and returns it.
func (w *answerWriter) appendTo(out []byte) []byte {
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
	if !w.head {
		out = append(out, w.body...)
	}
	return out
}

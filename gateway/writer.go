package gateway

import (
	"net/http"
	"time"
)

// responseWriter records the status code written and the error of a ReverseProxy, so the
// gateway answers failures itself, and bounds each write to the client by the send timeout.
// Unwrap gives http.ResponseController (used by ReverseProxy to flush) the underlying writer.
type responseWriter struct {
	http.ResponseWriter
	code int
	err  error

	deadline writeDeadliner // the client connection's write deadline; nil if none
	timeout  time.Duration
	armed    time.Time // when the deadline was last set
}

// writeDeadliner is the ResponseWriter of net/http's servers (HTTP/1 and HTTP/2).
type writeDeadliner interface{ SetWriteDeadline(time.Time) error }

// reset points the writer at w, with a send timeout.
func (w *responseWriter) reset(rw http.ResponseWriter, timeout time.Duration) {
	*w = responseWriter{ResponseWriter: rw, timeout: timeout}
	w.deadline, _ = rw.(writeDeadliner)
}

// arm sets the write deadline for the next write.
func (w *responseWriter) arm() {
	if w.deadline != nil {
		w.armed = time.Now()
		_ = w.deadline.SetWriteDeadline(w.armed.Add(w.timeout))
	}
}

// finish arms the deadline for the flush net/http does after the handler returns, unless the
// last write armed it less than a second ago.
func (w *responseWriter) finish() {
	if w.deadline != nil && time.Since(w.armed) > time.Second {
		w.arm()
	}
}

func (w *responseWriter) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	w.arm()
	return w.ResponseWriter.Write(p)
}

// Unwrap returns the underlying ResponseWriter.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// recordError is the ReverseProxy ErrorHandler: it leaves the answer to the gateway.
func recordError(w http.ResponseWriter, _ *http.Request, err error) {
	if rw, ok := w.(*responseWriter); ok {
		rw.err = err
	}
}

// Command httpload is an open-loop HTTP/1.1 load generator: it sends GET PATH?room=N at a
// fixed rate over a pool of keep-alive connections and measures every request's latency from
// the time it was due, not from when a connection was free (no coordinated omission). Rooms
// are drawn uniformly from -rooms. It prints a bench.LoadResult as JSON.
//
// Usage:
//
//	httpload -targets 127.0.78.1:18001 -rate 10000 -duration 10s -conns 64
//
// With several -targets, connection i goes to target i mod len(targets). A request that finds
// its keep-alive connection closed by the proxy before any answer is sent once more on a new
// connection, as browsers and HTTP libraries do, and counted as a retry.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/stablering/stablering/test/bench"
)

func main() {
	targets := flag.String("targets", "127.0.0.1:8080", "comma-separated host:port to send to")
	path := flag.String("path", "/", "request path; ?room=N is appended")
	rate := flag.Float64("rate", 1000, "requests per second")
	duration := flag.Duration("duration", 10*time.Second, "measured duration")
	warmup := flag.Duration("warmup", time.Second, "unmeasured duration at the same rate before")
	conns := flag.Int("conns", 64, "connections (requests in flight at most)")
	rooms := flag.Int("rooms", 1000, "number of distinct rooms")
	timeout := flag.Duration("timeout", 5*time.Second, "per-request timeout")
	flag.Parse()
	if *rate <= 0 || *conns <= 0 || *rooms <= 0 {
		fmt.Fprintln(os.Stderr, "httpload: -rate, -conns and -rooms must be positive")
		os.Exit(2)
	}
	addrs := strings.Split(*targets, ",")
	workers := make([]*worker, *conns)
	for i := range workers {
		workers[i] = &worker{addr: addrs[i%len(addrs)], path: *path, rooms: *rooms, timeout: *timeout}
	}
	load := bench.OpenLoop{Rate: *rate, Warmup: *warmup, Duration: *duration, Workers: *conns, Drain: *timeout}
	res := load.Run(context.Background(), func(ctx context.Context, w int, rec *bench.Recorder) error {
		return workers[w].do(ctx, rec)
	})
	for _, w := range workers {
		w.close()
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		fmt.Fprintln(os.Stderr, "httpload:", err)
		os.Exit(1)
	}
}

// worker owns one keep-alive connection.
type worker struct {
	addr, path string
	rooms      int
	timeout    time.Duration

	conn   net.Conn
	br     *bufio.Reader
	reused bool // conn has answered a request before
	req    []byte
}

// do sends one request and reads the answer, retrying once on a new connection when a reused
// connection turns out to be closed.
func (w *worker) do(ctx context.Context, rec *bench.Recorder) error {
	w.req = append(w.req[:0], "GET "...)
	w.req = append(w.req, w.path...)
	w.req = append(w.req, "?room="...)
	w.req = strconv.AppendInt(w.req, int64(rand.IntN(w.rooms)), 10)
	w.req = append(w.req, " HTTP/1.1\r\nHost: "...)
	w.req = append(w.req, w.addr...)
	w.req = append(w.req, "\r\n\r\n"...)
	for {
		reused := w.conn != nil && w.reused
		err := w.roundTrip(ctx)
		var unanswered *unansweredError
		if !reused || !errors.As(err, &unanswered) {
			return err
		}
		rec.Retry()
	}
}

// unansweredError is a connection that failed before any byte of the answer arrived: after a
// reused keep-alive connection was closed by the server, the request is safe to send again.
type unansweredError struct{ err error }

func (e *unansweredError) Error() string { return e.err.Error() }
func (e *unansweredError) Unwrap() error { return e.err }

func (w *worker) roundTrip(ctx context.Context) error {
	if w.conn == nil {
		d := net.Dialer{Timeout: w.timeout}
		conn, err := d.DialContext(ctx, "tcp", w.addr)
		if err != nil {
			return err
		}
		w.conn, w.reused = conn, false
		if w.br == nil {
			w.br = bufio.NewReaderSize(conn, 16<<10)
		} else {
			w.br.Reset(conn)
		}
	}
	deadline := time.Now().Add(w.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := w.conn.SetDeadline(deadline); err != nil {
		w.close()
		return err
	}
	if _, err := w.conn.Write(w.req); err != nil {
		w.close()
		return &unansweredError{err}
	}
	if _, err := w.br.Peek(1); err != nil {
		w.close()
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			return &unansweredError{err}
		}
		return err
	}
	resp, err := http.ReadResponse(w.br, nil)
	if err != nil {
		w.close()
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if err != nil || resp.Close {
		w.close()
	} else {
		w.reused = true
	}
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return &bench.StatusError{Code: resp.StatusCode}
	}
	return nil
}

func (w *worker) close() {
	if w.conn != nil {
		_ = w.conn.Close()
		w.conn = nil
	}
}

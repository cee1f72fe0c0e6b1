package gateway_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
)

// FuzzPooledReuse: whatever a member sends after an answer (immediately or while its
// connection is idle, after GET or HEAD), the next client gets the answer to its own request or
// the gateway's own error, never those bytes.
func FuzzPooledReuse(f *testing.F) {
	f.Add("HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nPOISONED", uint8(0), false)
	f.Add("HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nPOISONED", uint8(20), false)
	f.Add("POISONED", uint8(20), true)
	f.Add("HTTP/1.1 100 Continue\r\n\r\n", uint8(5), false)
	f.Add("\r\n", uint8(0), true)
	f.Add("", uint8(0), false)

	var (
		mu    sync.Mutex
		extra string        // what the member sends after each answer
		delay time.Duration // and when
		wrote = make(chan struct{}, 16)
	)
	rb := newRawBackend(f, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			id := req.URL.Query().Get("id")
			answer := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(id))
			if req.Method != http.MethodHead {
				answer += id
			}
			mu.Lock()
			e, d := extra, delay
			mu.Unlock()
			if d == 0 {
				_, _ = io.WriteString(c, answer+e)
			} else {
				_, _ = io.WriteString(c, answer)
				time.Sleep(d)
				_, _ = io.WriteString(c, e)
			}
			wrote <- struct{}{}
		}
	})
	opts := testOptions(f)
	opts.Log = discardLog
	h := gatewayFor(f, &rb.backend, opts)
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, rogue string, delayMillis uint8, head bool) {
		if len(rogue) > 4<<10 {
			return
		}
		mu.Lock()
		extra, delay = rogue, time.Duration(delayMillis%50)*time.Millisecond
		mu.Unlock()
		for i := range 3 {
			id := fmt.Sprintf("id-%d-%d", n.Add(1), time.Now().UnixNano())
			method := http.MethodGet
			if head && i == 0 {
				method = http.MethodHead
			}
			req, _ := http.NewRequest(method, h.url+"/?room=a&id="+id, nil)
			resp, err := timely.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", method, err)
			}
			body := readAll(t, resp.Body)
			_ = resp.Body.Close()
			ours := strings.HasPrefix(body, "stablering: ") && resp.StatusCode >= 500
			if !ours && (resp.StatusCode != 200 || method == http.MethodGet && body != id) {
				t.Fatalf("%s %s got %s %q", method, id, resp.Status, body)
			}
			select { // the member has sent its extra bytes
			case <-wrote:
			case <-time.After(2 * time.Second):
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// FuzzRequestFraming sends raw bytes to the gateway. Every answer is well-formed HTTP/1.1; what
// the member receives parses as complete requests, none with both Content-Length and
// Transfer-Encoding or a header name with an underscore; and the member receives no more
// requests than the client got answers from it (nothing is smuggled past the gateway).
func FuzzRequestFraming(f *testing.F) {
	for _, seed := range []string{
		"GET /?room=a HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /?room=a HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /SMUGGLED?room=a HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /?room=a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\nG",
		"POST /?room=a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"POST /?room=a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
		"POST /?room=a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
		"POST /?room=a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
		"GET /?room=a HTTP/1.1\r\nHost: x\r\nX_Room: b\r\n\r\nGET /?room=a HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /../x?room=a HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /?room=a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	var (
		mu       sync.Mutex
		received bytes.Buffer // what the member received, across connections of one input
	)
	rb := newRawBackend(f, func(c net.Conn, br *bufio.Reader) {
		tee := bufio.NewReader(io.TeeReader(br, writerFunc(func(p []byte) {
			mu.Lock()
			received.Write(p)
			mu.Unlock()
		})))
		answerEach(c, tee, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	opts := testOptions(f)
	opts.Log = discardLog
	h := gatewayFor(f, &rb.backend, opts)
	f.Fuzz(func(t *testing.T, input []byte) {
		if len(input) > 16<<10 {
			return
		}
		mu.Lock()
		received.Reset()
		mu.Unlock()
		c, err := net.Dial("tcp", h.host)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.Close() }()
		_, _ = c.Write(input)
		fromMember := readAnswers(t, c)
		mu.Lock()
		got := append([]byte(nil), received.Bytes()...)
		mu.Unlock()
		forwarded := checkForwarded(t, got)
		if forwarded > fromMember {
			t.Fatalf("the member received %d requests, the client got %d of its answers:\n%q", forwarded, fromMember, got)
		}
	})
}

// readAnswers reads the gateway's answers on c until it closes or stays silent for 300 ms;
// each must parse. It returns how many came from the member (its body is "ok").
func readAnswers(t *testing.T, c net.Conn) int {
	br := bufio.NewReader(c)
	n := 0
	for {
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := br.Peek(1); err != nil {
			return n
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("a malformed answer: %v", err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			t.Fatalf("a malformed answer's body: %v", err)
		}
		if resp.StatusCode == 200 && string(body) == "ok" {
			n++
		}
	}
}

// checkForwarded parses what the member received as requests and checks each; it returns
// how many there were.
func checkForwarded(t *testing.T, data []byte) int {
	n := 0
	for rest := data; len(rest) > 0; n++ {
		end := bytes.Index(rest, []byte("\r\n\r\n"))
		if end < 0 {
			t.Fatalf("the member received an incomplete request head:\n%q", data)
		}
		head := bytes.ToLower(rest[:end])
		if bytes.Contains(head, []byte("\ncontent-length:")) && bytes.Contains(head, []byte("\ntransfer-encoding:")) {
			t.Fatalf("the member received both Content-Length and Transfer-Encoding:\n%q", data)
		}
		r := bytes.NewReader(rest)
		br := bufio.NewReader(r)
		req, err := http.ReadRequest(br)
		if err != nil {
			t.Fatalf("the member received a malformed request: %v\n%q", err, data)
		}
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			t.Fatalf("the member received a malformed body: %v\n%q", err, data)
		}
		for name := range req.Header {
			if strings.Contains(name, "_") {
				t.Fatalf("the member received header %q", name)
			}
		}
		rest = rest[len(rest)-r.Len()-br.Buffered():]
	}
	return n
}

// discardLog keeps fuzzing quiet.
var discardLog = logr.Discard()

// writerFunc is an io.Writer that hands every write to a function.
type writerFunc func([]byte)

func (w writerFunc) Write(p []byte) (int, error) {
	w(p)
	return len(p), nil
}

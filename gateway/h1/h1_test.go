package h1

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// requestSeeds are heads and the verdict they get: taken (Simple), left to net/http (Other),
// or not complete yet.
var requestSeeds = []struct {
	head string
	want Verdict
}{
	{"GET /?room=a HTTP/1.1\r\nHost: x\r\n\r\n", Simple},
	{"GET /chat/room-1?room=a&x=%20y HTTP/1.1\r\nHost: example.com:8080\r\nX-Room: r\r\nCookie: a=b\r\nCookie: room=c\r\n\r\n", Simple},
	{"HEAD /a;b=c/@:$&+,=~ HTTP/1.1\r\nhost: x\r\nconnection: Keep-Alive, close\r\n\r\nGET / HTTP/1.1\r\n", Simple},
	{"OPTIONS /x HTTP/1.1\r\nHost: x\r\nX_Room: a\r\nX-Forwarded-For: 1.2.3.4\r\nKeep-Alive: 5\r\n\r\n", Simple},
	{"GET / HTTP/1.1\r\nHost: x\r\nValue:  \t spaced\t \r\n\r\n", Simple},
	{"GET / HTTP/1.1\r\nHost: x\r\n", Incomplete},
	{"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\na", Other},
	{"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Other},
	{"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", Other},
	{"GET / HTTP/1.0\r\nHost: x\r\n\r\n", Other},
	{"GET / HTTP/1.1\nHost: x\n\n", Other},
	{"GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n c\r\n\r\n", Other},
	{"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", Other},
	{"GET / HTTP/1.1\r\n\r\n", Other},
	{"GET /a/../b HTTP/1.1\r\nHost: x\r\n\r\n", Other},
	{"GET /a%2Fb HTTP/1.1\r\nHost: x\r\n\r\n", Other},
	{"GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n", Other},
	{"GET /ws?room=a HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: k\r\n\r\n", Simple},
	{"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AA\r\n\r\n", Other},
	{"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n", Other},
	{"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", Other},
	{"HEAD / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", Other},
	{"GET / HTTP/1.1\r\nHost: x\r\nA : b\r\n\r\n", Other},
	{"GET / HTTP/1.1\r\nHost: x\r\nA: b\x00\r\n\r\n", Other},
	{"GET /#f HTTP/1.1\r\nHost: x\r\n\r\n", Other},
	{"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", Other},
	{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", Other},
	{"GET / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n", Other},
	{"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", Other},
}

// FuzzRequestAgainstNetHTTP holds ParseRequest to net/http's reading of the same bytes: a
// head it takes, net/http accepts with the same method, target, host and fields, no body, the
// same close, and the same length; an incomplete head is one net/http cannot read either.
func FuzzRequestAgainstNetHTTP(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s.head))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Request
		v := ParseRequest(data, 100, &r)
		br := bufio.NewReader(bytes.NewReader(data))
		req, err := http.ReadRequest(br)
		switch v {
		case Incomplete:
			if err == nil {
				t.Fatalf("incomplete, but net/http read %s %s", req.Method, req.RequestURI)
			}
			return
		case Other:
			return
		case Simple:
		default:
			t.Fatalf("verdict %d", v)
		}
		if err != nil {
			t.Fatalf("taken, but net/http refuses it: %v", err)
		}
		checkSame(t, &r, req)
		rest, _ := io.ReadAll(br)
		if len(data)-len(rest) != r.Len {
			t.Fatalf("head length %d, net/http read %d", r.Len, len(data)-len(rest))
		}
	})
}

func checkSame(t *testing.T, r *Request, req *http.Request) {
	t.Helper()
	switch {
	case req.Method != r.Method(), req.RequestURI != strings.Fields(string(r.Line()))[1], req.URL.Path != r.Path(),
		req.URL.RawPath != r.RawPath(), req.URL.RawQuery != r.RawQuery(), req.Host != r.Host():
		t.Fatalf("net/http read %s %q path %q raw %q query %q host %q; the parser %s %q path %q raw %q query %q host %q",
			req.Method, req.RequestURI, req.URL.Path, req.URL.RawPath, req.URL.RawQuery, req.Host,
			r.Method(), r.Line(), r.Path(), r.RawPath(), r.RawQuery(), r.Host())
	case req.Body != http.NoBody || req.ContentLength != 0 || len(req.TransferEncoding) != 0:
		t.Fatalf("net/http sees a body")
	case req.Close != r.Close:
		t.Fatalf("close: net/http %v, the parser %v", req.Close, r.Close)
	case r.Upgrade != (req.Header["Upgrade"] != nil && httpguts.HeaderValuesContainsToken(req.Header["Connection"], "upgrade")):
		t.Fatalf("upgrade: the parser %v, net/http's header %v", r.Upgrade, req.Header)
	case r.Upgrade && !strings.EqualFold(req.Header.Get("Upgrade"), "websocket"):
		t.Fatalf("a WebSocket handshake, but net/http's Upgrade is %q", req.Header.Get("Upgrade"))
	}
	fields := 0
	for name, values := range req.Header {
		if strings.Contains(name, "_") {
			continue
		}
		fields += len(values)
		for i, want := range values {
			if got, ok := r.HeaderValue(name, i); !ok || got != want {
				t.Fatalf("%s line %d: net/http %q, the parser %q (%v)", name, i, want, got, ok)
			}
		}
		if _, extra := r.HeaderValue(name, len(values)); extra {
			t.Fatalf("%s: the parser has more lines than net/http's %d", name, len(values))
		}
	}
	visible := 0
	for _, f := range r.Fields {
		if !f.Underscore && f.Kind != Host {
			visible++
		}
	}
	if visible != fields {
		t.Fatalf("net/http has %d field lines, the parser %d", fields, visible)
	}
}

func TestParseRequestSeeds(t *testing.T) {
	for _, s := range requestSeeds {
		var r Request
		if v := ParseRequest([]byte(s.head), 100, &r); v != s.want {
			t.Errorf("%q: verdict %d, want %d", s.head, v, s.want)
			continue
		}
		if s.want != Simple {
			continue
		}
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(s.head)))
		if err != nil {
			t.Fatalf("%q: taken, but net/http refuses it: %v", s.head, err)
		}
		checkSame(t, &r, req)
		if r.Upgrade != strings.HasPrefix(s.head, "GET /ws") {
			t.Errorf("%q: upgrade %v", s.head, r.Upgrade)
		}
	}
}

func TestParseRequestKinds(t *testing.T) {
	head := "GET /?room=a HTTP/1.1\r\nHost: h\r\nX_A: 1\r\nConnection: close\r\nX-Forwarded-For: 1.1.1.1\r\n" +
		"X-Forwarded-Host: fh\r\nX-Forwarded-Proto: https\r\nForwarded: for=x\r\nProxy-Connection: k\r\nA: b\r\n\r\n"
	var r Request
	if v := ParseRequest([]byte(head), 100, &r); v != Simple {
		t.Fatalf("verdict %d", v)
	}
	want := []Kind{Host, Drop, Drop, XForwardedFor, XForwardedHost, XForwardedProto, Forwarded, Drop, Plain}
	if len(r.Fields) != len(want) {
		t.Fatalf("%d fields", len(r.Fields))
	}
	for i, k := range want {
		if r.Fields[i].Kind != k {
			t.Errorf("field %d (%s): kind %d, want %d", i, r.Bytes(r.Fields[i].Name), r.Fields[i].Kind, k)
		}
	}
	if !r.Close || string(r.Line()) != "GET /?room=a HTTP/1.1\r\n" {
		t.Errorf("close %v, line %q", r.Close, r.Line())
	}
	if v := ParseRequest([]byte(head), 7, &r); v != Other {
		t.Errorf("8 fields with a limit of 7: verdict %d, want Other", v)
	}
}

// responseSeeds are answer heads, well and badly framed.
var responseSeeds = []string{
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X\r\n\r\n2\r\nok\r\n0\r\nX: y\r\n\r\n",
	"HTTP/1.1 204 No Content\r\n\r\n",
	"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
	"HTTP/1.0 200 OK\r\n\r\nuntil close",
	"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
	"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
	"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	"HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n",
	"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
	"HTTP/1.1 2000 OK\r\n\r\n",
}

// FuzzResponseAgainstNetHTTP holds ParseResponse to http.ReadResponse: an answer it takes,
// net/http reads with the same status and the same framing, and keep-alive alike.
func FuzzResponseAgainstNetHTTP(f *testing.F) {
	for _, s := range responseSeeds {
		f.Add([]byte(s), false)
	}
	f.Add([]byte(responseSeeds[0]), true)
	f.Fuzz(func(t *testing.T, data []byte, head bool) {
		var resp Response
		done, err := ParseResponse(data, head, &resp)
		if err != nil || !done {
			return
		}
		method := http.MethodGet
		if head {
			method = http.MethodHead
		}
		got, rerr := http.ReadResponse(bufio.NewReader(bytes.NewReader(data)), &http.Request{Method: method})
		if rerr != nil {
			t.Fatalf("taken, but net/http refuses it: %v", rerr)
		}
		defer got.Body.Close()
		chunked := len(got.TransferEncoding) == 1 && got.TransferEncoding[0] == "chunked"
		var same bool
		switch resp.Framing {
		case NoBody:
			same = got.Body == http.NoBody || head || got.StatusCode < 200 || got.StatusCode == 204 ||
				got.StatusCode == 304
		case Length:
			same = !chunked && got.ContentLength == resp.Length
		case Chunked:
			same = chunked
		case UntilClose:
			same = !chunked && got.ContentLength == -1 && got.Close
		}
		if !same || got.StatusCode != resp.Code {
			t.Fatalf("framing %d length %d code %d; net/http: TE %v length %d close %v code %d",
				resp.Framing, resp.Length, resp.Code, got.TransferEncoding, got.ContentLength, got.Close, got.StatusCode)
		}
		if resp.Framing != UntilClose && resp.KeepAlive == got.Close {
			t.Fatalf("keep-alive %v, net/http's close %v", resp.KeepAlive, got.Close)
		}
		for _, f := range resp.Fields {
			name := textproto.CanonicalMIMEHeaderKey(string(resp.Bytes(f.Name)))
			if f.Kind != Drop && got.Header[name] == nil && name != "Transfer-Encoding" && name != "Content-Length" && name != "Trailer" {
				t.Fatalf("field %s relayed, but net/http does not see it", name)
			}
		}
	})
}

func TestParseResponseSeeds(t *testing.T) {
	for _, tc := range []struct {
		seed    int
		framing Framing
		keep    bool
		err     error
	}{
		{0, Length, true, nil}, {1, Chunked, true, nil}, {2, NoBody, true, nil}, {3, NoBody, true, nil},
		{4, UntilClose, false, nil}, {5, Length, true, nil}, {6, Length, false, nil}, {7, NoBody, true, nil},
		{8, Length, true, nil}, {9, 0, false, ErrFraming}, {10, 0, false, ErrFraming}, {11, 0, false, ErrFraming},
		{12, 0, false, ErrMalformed}, {13, 0, false, ErrMalformed}, {14, 0, false, ErrMalformed},
	} {
		var resp Response
		done, err := ParseResponse([]byte(responseSeeds[tc.seed]), false, &resp)
		if !errors.Is(err, tc.err) || (err == nil && (!done || resp.Framing != tc.framing || resp.KeepAlive != tc.keep)) {
			t.Errorf("%q: done %v err %v framing %d keep %v; want err %v framing %d keep %v", responseSeeds[tc.seed],
				done, err, resp.Framing, resp.KeepAlive, tc.err, tc.framing, tc.keep)
		}
	}
	var resp Response
	if _, err := ParseResponse([]byte(responseSeeds[6]), false, &resp); err != nil {
		t.Fatal(err)
	}
	for _, f := range resp.Fields {
		if name := string(resp.Bytes(f.Name)); (name == "X-Hop" || name == "Connection") != (f.Kind == Drop) {
			t.Errorf("%s: kind %d", name, f.Kind)
		}
	}
}

// FuzzChunks holds Chunks to net/http's chunked reader: where Chunks finds the end of a body,
// the reader reads it whole without error (trailers are net/http's to read apart), and the
// end found does not depend on how the bytes are split.
func FuzzChunks(f *testing.F) {
	f.Add([]byte("2\r\nok\r\n0\r\n\r\n"), 1)
	f.Add([]byte("a;ext=1\r\n0123456789\r\n0\r\nX: y\r\n\r\nextra"), 3)
	f.Add([]byte("2\r\nokX\r\n0\r\n\r\n"), 2)
	f.Fuzz(func(t *testing.T, data []byte, split int) {
		var whole Chunks
		n, done, err := whole.Feed(data)
		var parts Chunks
		pn, pdone, perr := 0, false, error(nil)
		for i := 0; i < len(data) && !pdone && perr == nil; {
			j := min(len(data), i+1+abs(split)%7)
			var k int
			k, pdone, perr = parts.Feed(data[i:j])
			pn += k
			i = j
		}
		if (err == nil) != (perr == nil) || done != pdone || (done && n != pn) {
			t.Fatalf("whole: %d %v %v; in parts: %d %v %v", n, done, err, pn, pdone, perr)
		}
		if !done || err != nil {
			return
		}
		body, rerr := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(data[:n])))
		if rerr != nil {
			t.Fatalf("the end found at %d, but net/http's reader fails: %v (read %q)", n, rerr, body)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

package gateway_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestWhichServer checks which server reads what: the gateway's own HTTP/1.1 path keeps
// connections that carry simple requests and WebSocket handshakes, and hands to net/http's
// server, for good, a connection whose request it does not take; either way the member gets
// the request and the client its answer.
func TestWhichServer(t *testing.T) {
	rec := newRecorder(t, nil)
	h := gatewayFor(t, rec.backend, testOptions(t))
	handoffs := func(want int) {
		t.Helper()
		_, metrics := get(t, h.admin+"/metrics")
		if line := "stablering_gateway_handoffs_total " + strconv.Itoa(want); !strings.Contains(metrics, line+"\n") {
			t.Fatalf("want %q:\n%s", line, grepLines(metrics, "handoffs_total"))
		}
	}
	answered := func(c *rawClient, method, uri string) {
		t.Helper()
		resp, body := c.response(t, method)
		if resp.StatusCode != http.StatusOK || method != http.MethodHead && body != uri {
			t.Fatalf("%s %s: %s %q", method, uri, resp.Status, body)
		}
	}

	own := dialRaw(t, h)
	own.send(t, "GET /a?room=a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b?room=a HTTP/1.1\r\nHost: x\r\n\r\n"+
		"OPTIONS /c?room=a HTTP/1.1\r\nHost: x\r\nX-Long: "+strings.Repeat("v", 3000)+"\r\n\r\n")
	answered(own, http.MethodGet, "/a?room=a")
	answered(own, http.MethodHead, "/b?room=a")
	answered(own, http.MethodOptions, "/c?room=a")
	// A WebSocket handshake, which this member refuses (its answer is relayed as it is).
	own.send(t, "GET /ws?room=a HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	answered(own, http.MethodGet, "/ws?room=a")
	handoffs(0)

	for i, req := range []string{
		"POST /d?room=a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok",
		"GET /e?room=a HTTP/1.0\r\nHost: x\r\n\r\n",
		"GET /f?room=a HTTP/1.1\r\nHost: x\r\nX-Long: " + strings.Repeat("v", 5000) + "\r\n\r\n",
	} {
		c := dialRaw(t, h)
		c.send(t, req)
		method, rest, _ := strings.Cut(req, " ")
		uri, _, _ := strings.Cut(rest, " ")
		answered(c, method, uri)
		handoffs(i + 1)
		if i == 0 { // the rest of this connection's life is net/http's
			c.send(t, "GET /g?room=a HTTP/1.1\r\nHost: x\r\n\r\n")
			answered(c, http.MethodGet, "/g?room=a")
			handoffs(1)
		}
	}
}

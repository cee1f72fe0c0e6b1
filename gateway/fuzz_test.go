package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/gateway"
	"github.com/stablering/stablering/gateway/resolved"
)

// FuzzServeHTTP sends hostile requests through the whole handler (routing, key extraction,
// proxying to a live member or a dead one, upgrade handling): nothing may panic, the gateway's
// own answers have its status codes and messages, and everything else is the member's answer.
func FuzzServeHTTP(f *testing.F) {
	f.Add("GET", "chat.example.com", "/rooms/lobby/ws", "", "room=lobby", "X-Room", "lobby", "room=a", false)
	f.Add("GET", "a.example.com:99", "/rooms/%zz", "/rooms/%zz", "room=%", "Connection", "upgrade", `room="`, true)
	f.Add("POST", "", "", "", "&&==&room&room=%2", "Upgrade", "websocket", ";;=;", true)
	f.Add("PUT", "CHAT.EXAMPLE.COM.", "//..//", "/%2F%2F", "r%6Fom=%F0%9F", "X-ROOM", "\x00\r\n", "room=\xff", false)
	f.Add("GET", "dead.example.com", "/", "", "room=x", "Te", "trailers", "", true)

	live := newBackend(f, 0)
	seg := int32(1)
	g := gateway.New(gateway.Options{})
	g.Update([]resolved.Ring{
		newRing("query", []*backend{live}, routeTo("/", "chat.example.com")),
		newRing("path", []*backend{live}, routeTo("/rooms", "*.example.com"),
			keyFrom(v1alpha1.KeySpec{Source: v1alpha1.KeySourcePath, PathSegment: &seg})),
		newRing("cookie", []*backend{live}, routeTo("/"), keyFrom(v1alpha1.KeySpec{Source: v1alpha1.KeySourceCookie, Name: "room"})),
		newRing("dead", []*backend{{ordinal: 0, addr: "127.0.0.1:1"}}, routeTo("/", "dead.example.com")),
	})
	gatewayCodes := map[int]bool{400: true, 404: true, 502: true, 503: true, 504: true}
	f.Fuzz(func(t *testing.T, method, host, path, rawPath, query, hname, hvalue, cookie string, upgrade bool) {
		r := &http.Request{
			Method:     method,
			Host:       host,
			URL:        &url.URL{Path: path, RawPath: rawPath, RawQuery: query},
			Proto:      "HTTP/1.1",
			ProtoMajor: 1,
			ProtoMinor: 1,
			Header:     http.Header{hname: {hvalue}, "Cookie": {cookie}},
			Body:       http.NoBody,
			RemoteAddr: "192.0.2.1:1234",
		}
		if upgrade {
			r.Header.Set("Connection", "Upgrade")
			r.Header.Set("Upgrade", "websocket")
		}
		w := httptest.NewRecorder()
		g.ServeHTTP(w, r)
		ours := strings.HasPrefix(w.Body.String(), "stablering: ")
		if ours && !gatewayCodes[w.Code] || w.Code < 100 || w.Code > 599 {
			t.Fatalf("status %d: %q", w.Code, w.Body.String())
		}
		if (w.Code == 404 || w.Code == 503) && !ours {
			t.Fatalf("status %d without the gateway's message: %q", w.Code, w.Body.String())
		}
	})
}

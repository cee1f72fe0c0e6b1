package resume

import (
	"net/http"
	"strings"
	"testing"
)

func TestResumable(t *testing.T) {
	for _, tc := range []struct {
		hs   Handshake
		want bool
	}{
		{Handshake{Token: "t"}, true},
		{Handshake{}, false},
		{Handshake{Token: "with space"}, false},
		{Handshake{Token: strings.Repeat("t", MaxTokenBytes+1)}, false},
		{Handshake{Token: "t", Extensions: "permessage-deflate"}, false},
		{Handshake{Token: "t", Extensions: "permessage-deflate; client_no_context_takeover"}, false},
		{Handshake{Token: "t", Extensions: "permessage-deflate; client_no_context_takeover; server_no_context_takeover"}, true},
		{Handshake{Token: "t", Extensions: "x-other"}, false},
	} {
		if got := tc.hs.Resumable(); got != tc.want {
			t.Errorf("%+v: Resumable %v, want %v", tc.hs, got, tc.want)
		}
	}
}

func TestMatches(t *testing.T) {
	orig := NewHandshake(http.Header{"Sec-Websocket-Accept": {"a"}, "Sec-Websocket-Protocol": {"chat"},
		HeaderToken: {"t"}})
	same := orig
	same.Token = "another" // a token of its own does not matter
	if !same.Matches(orig) {
		t.Error("the same negotiation does not match")
	}
	for _, hs := range []Handshake{{Accept: "a"}, {Accept: "b", Protocol: "chat"}, {Accept: "a", Protocol: "chat", Extensions: "x"}} {
		if hs.Matches(orig) {
			t.Errorf("%+v matches %+v", hs, orig)
		}
	}
}

func TestRequest(t *testing.T) {
	head := "GET /ws?room=r HTTP/1.1\r\nHost: h\r\nStableRing-Resumable: 1\r\nCookie: c=1\r\n\r\n"
	got := string(Request([]byte(head), "tok", Counts{ToMember: 3, ToClient: 7}))
	want := "GET /ws?room=r HTTP/1.1\r\nHost: h\r\nCookie: c=1\r\nStableRing-Resume: tok\r\n" +
		"StableRing-Resume-Client-Messages: 3\r\nStableRing-Resume-Member-Messages: 7\r\n\r\n"
	if got != want {
		t.Errorf("Request:\n%q\nwant\n%q", got, want)
	}
	if Request([]byte("GET / HTTP/1.1\r\n"), "tok", Counts{}) != nil {
		t.Error("a head without its end gives a request")
	}
}

func TestForged(t *testing.T) {
	if !Forged(http.Header{"Stablering-Resume-Token": {"x"}}) || !Forged(http.Header{"Stablering-Resumable": {"1"}}) {
		t.Error("resume fields not found")
	}
	if Forged(http.Header{"Stablering-Other": {"x"}, "Cookie": {"c"}}) {
		t.Error("other fields taken for resume fields")
	}
}

func TestBudget(t *testing.T) {
	b := NewBudget(10)
	if !b.Take(6) || b.Take(5) || !b.Take(4) {
		t.Fatal("takes within the limit refused, or beyond it allowed")
	}
	b.Give(6)
	if b.Used() != 4 || !b.Take(6) {
		t.Fatalf("after giving back: used %d", b.Used())
	}
}

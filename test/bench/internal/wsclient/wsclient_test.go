package wsclient

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/stablering/stablering/test/bench"
)

// echoServer echoes WebSocket messages with github.com/coder/websocket, as the benchmark
// backend does, and refuses requests to /refuse with 503.
func echoServer(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/refuse" {
			http.Error(w, "held", http.StatusServiceUnavailable)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer func() { _ = c.CloseNow() }()
		c.SetReadLimit(1 << 20)
		for {
			typ, msg, err := c.Read(context.Background())
			if err != nil {
				return
			}
			if err := c.Write(context.Background(), typ, msg); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestEcho(t *testing.T) {
	addr := echoServer(t)
	c, err := Dial(context.Background(), nil, addr, addr, "/ws?room=1", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var buf []byte
	// Each payload length encoding: 7 bits, 16 bits and 64 bits.
	for _, n := range []int{5, 125, 126, 4000, 70000} {
		msg := bytes.Repeat([]byte{'x'}, n)
		msg[0], msg[n-1] = 'a', 'z'
		if err := c.WriteText(msg); err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		got, err := c.ReadMessage(buf)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if !bytes.Equal(got, msg) {
			t.Fatalf("%d bytes: echo differs", n)
		}
		buf = got
	}
}

// TestLocalAddress dials from a given local address, as the benchmarks do to spread
// connections over source addresses.
func TestLocalAddress(t *testing.T) {
	addr := echoServer(t)
	c, err := Dial(context.Background(), net.IPv4(127, 0, 0, 1), addr, addr, "/", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
}

func TestRefused(t *testing.T) {
	addr := echoServer(t)
	_, err := Dial(context.Background(), nil, addr, addr, "/refuse", 5*time.Second)
	var se *bench.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusServiceUnavailable {
		t.Fatalf("Dial = %v, want status 503", err)
	}
}

func TestCloseFrameIsEOF(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		_ = c.Close(websocket.StatusGoingAway, "bye")
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	c, err := Dial(context.Background(), nil, addr, addr, "/", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.ReadMessage(nil); !errors.Is(err, io.EOF) {
		t.Fatalf("ReadMessage = %v, want io.EOF for a close frame", err)
	}
}

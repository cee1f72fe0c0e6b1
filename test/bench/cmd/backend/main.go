// Command backend is the benchmark backend: every proxy under test and the direct
// connection use the same backends. It answers plain HTTP requests with 200 and a small body,
// and echoes every message of WebSocket connections (github.com/coder/websocket).
//
// Usage:
//
//	backend -name b0 -listen 127.0.77.1:18000[,127.0.77.5:18000]
//
// It serves on every -listen address (the ring-change benchmark reaches one backend under two
// addresses) and names itself in the X-Backend response header and the body, so the harness
// can check that each proxy hashes a room to one backend. It runs until killed.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/coder/websocket"
)

func main() {
	name := flag.String("name", "backend", "name sent in the X-Backend header and the body")
	listen := flag.String("listen", "127.0.0.1:18000", "comma-separated addresses to serve on")
	flag.Parse()
	if err := run(*name, strings.Split(*listen, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "backend:", err)
		os.Exit(1)
	}
}

func run(name string, addrs []string) error {
	srv := &http.Server{Handler: handler(name), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute}
	errc := make(chan error, len(addrs))
	for _, addr := range addrs {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		go func() { errc <- srv.Serve(ln) }()
	}
	return <-errc
}

// handler answers HTTP requests and echoes WebSockets.
func handler(name string) http.Handler {
	body := []byte("hello from " + name + "\n")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["X-Backend"] = []string{name}
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			echo(w, r)
			return
		}
		h["Content-Type"] = []string{"text/plain"}
		_, _ = w.Write(body)
	})
}

// echo accepts a WebSocket and sends every message back until the connection ends.
func echo(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return // Accept answered the client
	}
	defer func() { _ = c.CloseNow() }()
	ctx := context.Background() // the request's context does not outlive the hijack
	for {
		typ, msg, err := c.Read(ctx)
		if err != nil {
			return
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			return
		}
	}
}

// Command gatewayprof runs the StableRing gateway as cmd/gateway does with --rings-file and
// default options, and also serves net/http/pprof, so the benchmark harness can take CPU and
// heap profiles of the gateway under load. (cmd/gateway's admin port has no pprof.)
//
// Usage:
//
//	gatewayprof -rings-file rings.yaml -listen 127.0.78.4:18001 -admin 127.0.78.4:18002 -pprof 127.0.78.4:18004
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof on http.DefaultServeMux
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/logr/funcr"

	"github.com/stablering/stablering/gateway"
	"github.com/stablering/stablering/gateway/source"
)

func main() {
	ringsFile := flag.String("rings-file", "", "StableRings (YAML, spec and status) to route by")
	listen := flag.String("listen", "127.0.0.1:8080", "address to proxy on")
	admin := flag.String("admin", "127.0.0.1:9090", "address of the gateway's admin endpoints")
	pprofAddr := flag.String("pprof", "127.0.0.1:6060", "address of /debug/pprof")
	flag.Parse()
	if err := run(*ringsFile, *listen, *admin, *pprofAddr); err != nil {
		fmt.Fprintln(os.Stderr, "gatewayprof:", err)
		os.Exit(1)
	}
}

func run(ringsFile, listen, admin, pprofAddr string) error {
	var lns [3]net.Listener
	for i, addr := range []string{listen, admin, pprofAddr} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		lns[i] = ln
	}
	pprofSrv := &http.Server{ReadHeaderTimeout: 10 * time.Second} // http.DefaultServeMux
	go func() { _ = pprofSrv.Serve(lns[2]) }()
	defer func() { _ = pprofSrv.Close() }()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, prefix, args) }, funcr.Options{})
	g := gateway.New(gateway.Options{Log: log})
	src := &source.File{Path: ringsFile, Log: log.WithName("rings-file")}
	go func() { _ = src.Run(ctx, g.Update) }()
	return g.Serve(ctx, lns[0], lns[1])
}

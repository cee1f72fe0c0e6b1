package gateway

import (
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"
)

// Serve serves proxied traffic on proxyLn and the admin endpoints on adminLn until ctx ends or
// a listener fails, then shuts down gracefully:
//
//  1. /readyz answers 503 and the gateway keeps serving for ShutdownDelay;
//  2. the proxy listener closes; plain HTTP requests in flight may finish;
//  3. WebSockets are closed with 1001 (going away) spread over ShutdownWindow;
//  4. whatever remains after the window and two close graces is closed, and so are the idle
//     connections to members.
//
// It returns the listener error, or nil after a shutdown asked for by ctx.
func (g *Gateway) Serve(ctx context.Context, proxyLn, adminLn net.Listener) error {
	clients := newLimitListener(proxyLn, g.opts.MaxConnections)
	g.clients.Store(clients)
	proxyLn = clients
	proxy := g.proxyServer()
	admin := &http.Server{
		Handler:           g.AdminHandler(),
		ReadHeaderTimeout: g.opts.ReadHeaderTimeout,
		ErrorLog:          g.errorLog("admin server"),
	}
	errc := make(chan error, 2)
	go func() { errc <- g.serveProxy(proxy, proxyLn) }()
	go func() { errc <- ignoreClosed(admin.Serve(adminLn)) }()
	maintain, stop := context.WithCancel(context.Background())
	defer stop()
	go g.maintain(maintain)

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		g.log.Error(err, "listener failed; shutting down")
	}
	g.shutdown(proxy)
	return errors.Join(err, admin.Close())
}

func (g *Gateway) proxyServer() *http.Server {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(g.opts.H2C)
	protocols.SetHTTP2(g.tls())
	return &http.Server{
		Handler:           g,
		ReadHeaderTimeout: g.opts.ReadHeaderTimeout,
		IdleTimeout:       g.opts.IdleTimeout,
		MaxHeaderBytes:    g.opts.MaxHeaderBytes,
		Protocols:         &protocols,
		ErrorLog:          g.errorLog("proxy server"),
	}
}

func (g *Gateway) tls() bool { return g.opts.TLSCertFile != "" && g.opts.TLSKeyFile != "" }

func (g *Gateway) serveProxy(srv *http.Server, ln net.Listener) error {
	if g.tls() {
		return ignoreClosed(srv.ServeTLS(ln, g.opts.TLSCertFile, g.opts.TLSKeyFile))
	}
	return ignoreClosed(srv.Serve(ln))
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// maintain re-evaluates connections placed away from their owner and closes member
// connections idle too long until ctx ends.
func (g *Gateway) maintain(ctx context.Context) {
	t := time.NewTicker(g.opts.ReconcileInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			g.conns.Tick(now)
			g.pruneIdle(now)
		}
	}
}

// shutdown runs steps 1 to 4 of Serve.
func (g *Gateway) shutdown(proxy *http.Server) {
	g.stopping.Store(true)
	g.log.Info("shutting down: not ready", "delay", g.opts.ShutdownDelay.String())
	time.Sleep(g.opts.ShutdownDelay)

	limit := g.opts.ShutdownWindow + 2*g.opts.CloseGrace
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	httpDone := make(chan error, 1)
	go func() { httpDone <- proxy.Shutdown(ctx) }()
	g.conns.Shutdown(g.opts.ShutdownWindow)
	if !g.conns.Wait(limit) {
		g.log.Info("closing the connections left after the shutdown window")
		g.conns.KillAll()
	}
	if err := <-httpDone; err != nil {
		g.log.Info("closing HTTP requests left after the shutdown window")
		_ = proxy.Close()
	}
	g.closeUpstreams()
	g.log.Info("shut down")
}

// errorLog adapts net/http's error log to the structured log, at verbosity 1 (TLS handshake
// and other per-connection errors from clients are routine on the internet).
func (g *Gateway) errorLog(component string) *log.Logger {
	return log.New(logWriter{g.log.WithValues("component", component).V(1)}, "", 0)
}

type logWriter struct{ log logr.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.log.Info(strings.TrimSpace(string(p)))
	return len(p), nil
}

// pruneIdle closes the pooled member connections idle longer than UpstreamIdleTimeout.
func (g *Gateway) pruneIdle(now time.Time) {
	for _, t := range g.snap.Load().targets {
		t.PruneIdle(now)
	}
}

// closeUpstreams closes the idle member connections of every address.
func (g *Gateway) closeUpstreams() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, t := range g.targets {
		t.Close()
	}
	g.fallback.CloseIdleConnections()
}

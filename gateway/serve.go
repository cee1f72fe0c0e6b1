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

	"github.com/stablering/stablering/gateway/coarse"
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
	g.clock = coarse.Start(clockTick)
	defer g.clock.Stop()
	proxy := g.proxyServer()
	admin := &http.Server{
		Handler:           g.AdminHandler(),
		ReadHeaderTimeout: g.opts.ReadHeaderTimeout,
		ErrorLog:          g.errorLog("admin server"),
	}
	errc := make(chan error, 3)
	var h1 *h1Server
	if g.tls() {
		go func() { errc <- ignoreClosed(proxy.ServeTLS(clients, g.opts.TLSCertFile, g.opts.TLSKeyFile)) }()
	} else {
		h1 = newH1Server(g, clients)
		go func() { errc <- h1.serve() }()
		go func() { errc <- ignoreClosed(proxy.Serve(h1.handoff)) }()
	}
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
	g.shutdown(proxy, h1)
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

// clockTick is the resolution of the coarse clock the HTTP/1.1 path arms deadlines from.
const clockTick = 20 * time.Millisecond

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

// shutdown runs steps 1 to 4 of Serve; h1 is nil when net/http serves alone (TLS).
func (g *Gateway) shutdown(proxy *http.Server, h1 *h1Server) {
	g.stopping.Store(true)
	g.log.Info("shutting down: not ready", "delay", g.opts.ShutdownDelay.String())
	time.Sleep(g.opts.ShutdownDelay)

	limit := g.opts.ShutdownWindow + 2*g.opts.CloseGrace
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	httpDone := make(chan error, 1)
	go func() { httpDone <- proxy.Shutdown(ctx) }()
	h1Done := make(chan struct{})
	go func() {
		defer close(h1Done)
		if h1 != nil {
			h1.shutdown(limit)
		}
	}()
	g.conns.Shutdown(g.opts.ShutdownWindow)
	if !g.conns.Wait(limit) {
		g.log.Info("closing the connections left after the shutdown window")
		g.conns.KillAll()
	}
	if err := <-httpDone; err != nil {
		g.log.Info("closing HTTP requests left after the shutdown window")
		_ = proxy.Close()
	}
	<-h1Done
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

// pruneIdle closes the pooled member connections idle longer than UpstreamIdleTimeout. It
// walks the current snapshot's slots (an address two members share is pruned twice), which
// is faster than ranging over the target set's map.
func (g *Gateway) pruneIdle(now time.Time) {
	for _, row := range g.snap.Load().slots {
		for _, sl := range row {
			if sl.target != nil {
				sl.target.PruneIdle(now)
			}
		}
	}
}

// closeUpstreams closes the idle member connections of every address.
func (g *Gateway) closeUpstreams() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.targets.each(func(t *target) { t.Close() })
	g.fallback.CloseIdleConnections()
}

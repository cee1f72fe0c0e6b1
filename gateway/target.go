package gateway

import (
	"net/http/httputil"

	"github.com/stablering/stablering/gateway/upstream"
)

// target is a member address as the gateway proxies to it: its upstream (connection pool and
// passive health) and the ReverseProxy that forwards through it.
type target struct {
	*upstream.Upstream
	proxy *httputil.ReverseProxy
}

func (g *Gateway) newTarget(address string) *target {
	up := upstream.New(address, g.dialer.Dial, g.fallback, g.upstreamOpts)
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = address
			setForwarded(pr.Out.Header, pr.In, g.opts.TrustForwarded)
		},
		Transport: up,
		// FlushInterval 0: ReverseProxy flushes streamed responses (text/event-stream, or of
		// unknown length) after every write by itself, and lets others fill the buffer.
		BufferPool:   g.pool,
		ErrorHandler: recordError,
		ErrorLog:     g.errorLog("reverse proxy"),
	}
	return &target{Upstream: up, proxy: proxy}
}

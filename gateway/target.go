package gateway

import (
	"net/http/httputil"
	"net/netip"
	"sync"

	"github.com/stablering/stablering/gateway/upstream"
)

// target is a member address as the gateway proxies to it: its upstream (connection pool and
// passive health) and the ReverseProxy that forwards through it.
type target struct {
	*upstream.Upstream
	proxy   *httputil.ReverseProxy
	address string
	// addrPort is the address parsed, for the HTTP event loops' dials; the zero value when it
	// is not an IP literal (the goroutine path dials such addresses).
	addrPort netip.AddrPort
	refs     int // slots of the current rows that point to it; guarded by the gateway's mu
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
		ErrorLog:     g.proxyLog,
	}
	ap, _ := netip.ParseAddrPort(address)
	return &target{Upstream: up, proxy: proxy, address: address, addrPort: ap}
}

// targetSet is the gateway's targets by address. A target is made when the first member at
// its address enters a row of slots and closed when the last row that points to it goes, so
// its pool and passive health last as long as some ring routes to the address. Lookups are
// safe at any time (requests read passive health through them); acquire and release are
// called with the gateway's mu held.
type targetSet struct {
	byAddress sync.Map // address -> *target
}

// get returns the target of address, or nil.
func (ts *targetSet) get(address string) *target {
	t, _ := ts.byAddress.Load(address)
	tt, _ := t.(*target)
	return tt
}

// acquire returns the target of address, made by newTarget if there is none, and counts one
// more slot pointing to it.
func (ts *targetSet) acquire(address string, newTarget func(string) *target) *target {
	t := ts.get(address)
	if t == nil {
		t = newTarget(address)
		ts.byAddress.Store(address, t)
	}
	t.refs++
	return t
}

// releaseAll counts one slot fewer for each target of row, and forgets and closes those no
// slot points to any more.
func (ts *targetSet) releaseAll(row []slot) {
	for _, sl := range row {
		t := sl.target
		if t == nil {
			continue
		}
		if t.refs--; t.refs == 0 {
			ts.byAddress.Delete(t.address)
			t.Close()
		}
	}
}

// each calls f for every target.
func (ts *targetSet) each(f func(*target)) {
	ts.byAddress.Range(func(_, t any) bool {
		f(t.(*target))
		return true
	})
}

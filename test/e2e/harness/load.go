package harness

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/stablering/stablering/cmd/stablering/loadgen"
	"github.com/stablering/stablering/test/ipbaseline"
)

// Load is a load generator running in the background.
type Load struct {
	cancel context.CancelFunc
	done   chan struct{}

	summary *loadgen.Summary
	err     error

	mu     sync.Mutex
	latest loadgen.Stats
}

// LoadConfig returns the harness's load: connections over rooms, one message every 2s per
// connection, spread over urls (connection i uses urls[i mod len(urls)]), first connections
// ramped over 5s.
func LoadConfig(urls []string, connections, rooms int) loadgen.Config {
	cfg := loadgen.DefaultConfig()
	cfg.URLs = urls
	cfg.Connections, cfg.Rooms = connections, rooms
	cfg.Ramp = 5 * time.Second
	cfg.MessageInterval = 2 * time.Second
	cfg.EchoTimeout = 5 * time.Second
	cfg.BackoffMin, cfg.BackoffMax = 200*time.Millisecond, 3*time.Second
	cfg.ReportInterval = time.Second
	return cfg
}

// GatewayURLs returns the WebSocket URL template of each address.
func GatewayURLs(addrs []string) []string {
	urls := make([]string, len(addrs))
	for i, a := range addrs {
		urls[i] = "ws://" + a + "/ws"
	}
	return urls
}

// StartLoad runs cfg in the background until Stop. cfg.OnStats is chained, not replaced.
func StartLoad(ctx context.Context, cfg loadgen.Config) *Load {
	ctx, cancel := context.WithCancel(ctx)
	l := &Load{cancel: cancel, done: make(chan struct{})}
	next := cfg.OnStats
	cfg.OnStats = func(s loadgen.Stats) {
		l.mu.Lock()
		l.latest = s
		l.mu.Unlock()
		if next != nil {
			next(s)
		}
	}
	go func() {
		defer close(l.done)
		l.summary, l.err = loadgen.Run(ctx, cfg)
	}()
	return l
}

// Latest returns the latest live snapshot.
func (l *Load) Latest() loadgen.Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.latest
}

// Stop ends the run and returns its summary.
func (l *Load) Stop() (*loadgen.Summary, error) {
	l.cancel()
	<-l.done
	return l.summary, l.err
}

// Baseline is the IP-keyed comparison router serving on a loopback port.
type Baseline struct {
	Router *ipbaseline.Router
	Addr   string
	srv    *http.Server
	cancel context.CancelFunc
}

// StartBaseline serves an ipbaseline.Router on 127.0.0.1 that follows app's pods, until Stop.
func (c *Cluster) StartBaseline(ctx context.Context, app App) (*Baseline, error) {
	ctx, cancel := context.WithCancel(c.scoped(ctx))
	r := ipbaseline.New("room", ChatPort)
	if err := r.Watch(ctx, c.Kube, app.Namespace, labels.SelectorFromSet(app.Selector())); err != nil {
		cancel()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		return nil, err
	}
	b := &Baseline{Router: r, Addr: ln.Addr().String(), cancel: cancel,
		srv: &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = b.srv.Serve(ln) }()
	return b, nil
}

// URL is the baseline's WebSocket URL template; its rooms are prefixed so they never share a
// chat room with the StableRing load's.
func (b *Baseline) URL(prefix string) string {
	return fmt.Sprintf("ws://%s/ws?room=%s{room}", b.Addr, prefix)
}

// Stop closes the router's listener and connections.
func (b *Baseline) Stop() {
	b.cancel()
	_ = b.srv.Close()
}

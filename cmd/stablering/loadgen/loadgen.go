// Package loadgen is a WebSocket load generator for room services that speak the protocol of the
// chat example (examples/chat). It measures what StableRing promises: how often connections
// reconnect, whether rooms change pods or split across pods, and how hard reconnect waves hit.
//
// Connection i joins room "room-(i mod rooms)" (through URLs[i mod len(URLs)] when several URLs
// are given, e.g. one per gateway replica) and behaves like a real client: it connects,
// reads the welcome, which names the pod that serves it, reads the room's messages and sends
// its own. When the connection ends, whether by a close frame or an error, it reconnects after an
// exponential backoff with full jitter; a 503 answer is a held answer, after which it waits at
// least the answer's Retry-After plus the jittered backoff.
//
// The summary counts:
//
//   - reconnects: sessions of a connection after its first, so a client that was disconnected
//     once and came back has one reconnect; the connections are also counted by their reconnects
//     (0, 1, 2, 3 or more).
//   - connections whose pod changed: two consecutive sessions of the connection were welcomed
//     by different pods.
//   - rooms that changed owner: a room's pods at the end (those of its live connections, or of
//     its latest connection if none is live) include a pod other than the one that welcomed its
//     first connection. Pods are compared by name, which StatefulSet pods keep across restarts,
//     so a room that returns to its restarted pod has not changed owner.
//   - room-split seconds: summed over rooms, the time during which a room had live connections
//     on two or more pods at once, computed exactly from the connect and disconnect events. A
//     connection is live from its welcome until the load generator sees it end.
//   - disconnects, per second and in all, connections the server or the network ended; the peak
//     second's disconnects are also given as a share of all connections.
//   - held answers: 503 answers to connection attempts.
//   - messages: every connection sends a message every message interval, and the server
//     broadcasts it to the room, sender included. A message is lost when its echo has not come
//     back by the time its connection ends although it was sent at least the echo timeout
//     before; a message sent less than the echo timeout before the end is unconfirmed, not
//     lost: it may have crossed the server's close frame. Late echoes count as delivered.
//
// Disconnects and the room accounting stop when the run ends; the load generator then closes
// its connections with status 1000.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config configures a run.
type Config struct {
	// URL is the WebSocket URL (ws, wss, http or https). A "{room}" in it is replaced by the
	// room key; without one, the room key is added as the "room" query parameter.
	URL string
	// URLs, if set, replace URL: connection i uses URLs[i mod len(URLs)], e.g. one per gateway
	// replica. Each is a template like URL.
	URLs []string
	// Host, if set, overrides the Host header of the handshakes.
	Host string
	// Connections is the number of simulated clients.
	Connections int
	// Rooms is the number of rooms the connections are spread over.
	Rooms int
	// Duration is the length of the run; 0 runs until ctx is done.
	Duration time.Duration
	// Ramp spreads the first connection attempts evenly over this long.
	Ramp time.Duration
	// MessageInterval is how often each connection sends a message; 0 sends none.
	MessageInterval time.Duration
	// EchoTimeout is how long an echo may take: a message that is still waiting for its echo
	// when its connection ends counts as lost if it was sent at least this long before, as
	// unconfirmed otherwise.
	EchoTimeout time.Duration
	// BackoffMin and BackoffMax bound the reconnect backoff.
	BackoffMin, BackoffMax time.Duration
	// OnStats, if set, is called with a snapshot every ReportInterval, from one goroutine.
	OnStats        func(Stats)
	ReportInterval time.Duration
}

// DefaultConfig returns the defaults of the loadgen command.
func DefaultConfig() Config {
	return Config{
		URL:             "ws://localhost:8080/ws",
		Connections:     100,
		Rooms:           10,
		Ramp:            time.Second,
		MessageInterval: time.Second,
		EchoTimeout:     5 * time.Second,
		BackoffMin:      100 * time.Millisecond,
		BackoffMax:      5 * time.Second,
		ReportInterval:  time.Second,
	}
}

// validate checks the configuration.
func (cfg *Config) validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(cfg.Connections >= 1, "connections must be at least 1 (got %d)", cfg.Connections)
	check(cfg.Rooms >= 1, "rooms must be at least 1 (got %d)", cfg.Rooms)
	check(cfg.Duration >= 0 && cfg.Ramp >= 0 && cfg.MessageInterval >= 0 && cfg.ReportInterval >= 0,
		"durations must not be negative")
	check(cfg.EchoTimeout > 0, "the echo timeout must be positive (got %v)", cfg.EchoTimeout)
	check(cfg.BackoffMin > 0 && cfg.BackoffMax >= cfg.BackoffMin,
		"the backoff needs 0 < min <= max (got %v and %v)", cfg.BackoffMin, cfg.BackoffMax)
	for _, u := range cfg.urls() {
		if _, err := roomURL(u, "room-0"); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// urls returns the URL templates connections are spread over.
func (cfg *Config) urls() []string {
	if len(cfg.URLs) > 0 {
		return cfg.URLs
	}
	return []string{cfg.URL}
}

// roomURL returns the URL of room's WebSocket.
func roomURL(template, room string) (string, error) {
	u, err := url.Parse(strings.ReplaceAll(template, "{room}", url.PathEscape(room)))
	if err != nil {
		return "", fmt.Errorf("bad URL: %w", err)
	}
	switch {
	case u.Scheme != "ws" && u.Scheme != "wss" && u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("bad URL %q: the scheme must be ws, wss, http or https", template)
	case u.Host == "":
		return "", fmt.Errorf("bad URL %q: no host", template)
	case !strings.Contains(template, "{room}"):
		q := u.Query()
		q.Set("room", room)
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

// Run runs the load until cfg.Duration has passed or ctx is done, and returns the summary. It
// fails only on a bad configuration: failed connection attempts are part of the summary.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Duration)
		defer cancel()
	}
	rooms := min(cfg.Rooms, cfg.Connections)
	runID := strconv.FormatUint(rand.Uint64(), 36)
	rec := newRecorder(time.Now())
	clients := make([]*client, cfg.Connections)
	urls := cfg.urls()
	var wg sync.WaitGroup
	for i := range clients {
		room := "room-" + strconv.Itoa(i%rooms)
		u, _ := roomURL(urls[i%len(urls)], room) // validate checked the URLs
		clients[i] = newClient(&cfg, rec, i, room, u, runID)
		start := cfg.Ramp * time.Duration(i) / time.Duration(len(clients))
		wg.Go(func() { clients[i].run(ctx, start) })
	}
	if cfg.OnStats != nil && cfg.ReportInterval > 0 {
		wg.Go(func() { report(ctx, rec, cfg.ReportInterval, cfg.OnStats) })
	}

	<-ctx.Done()
	elapsed := rec.finish()
	wg.Wait()
	records := make([]ClientRecord, len(clients))
	for i, c := range clients {
		records[i] = c.record
	}
	return rec.summarize(records, rooms, elapsed), nil
}

// report calls onStats every interval until ctx is done.
func report(ctx context.Context, rec *recorder, interval time.Duration, onStats func(Stats)) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			onStats(rec.snapshot())
		}
	}
}

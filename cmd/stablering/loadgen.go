package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/stablering/stablering/cmd/stablering/loadgen"
)

const loadgenUsage = `usage: stablering loadgen [flags]

Opens --connections WebSockets to a room service that speaks the chat example's protocol
(examples/chat), typically through a gateway; connection i joins room "room-(i mod rooms)".
Each one reconnects with exponential backoff and full jitter whenever it is disconnected, and
waits at least Retry-After after a 503. At the end (--duration, or SIGINT / SIGTERM) it prints a
summary: reconnects per connection, connections whose pod changed, rooms that changed owner,
room-split seconds, the peak second of disconnects, held answers and lost messages. Progress
lines go to stderr every --report-interval.

Flags:
`

// runLoadgen is the loadgen command.
func runLoadgen(args []string, stdout, stderr io.Writer) int {
	cfg := loadgen.DefaultConfig()
	var jsonPath string
	fs := loadgenFlags(&cfg, &jsonPath)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, loadgenUsage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return 0
	}
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err != nil {
		return loadgenUsageError(stderr, err)
	}
	if cfg.ReportInterval > 0 {
		cfg.OnStats = func(s loadgen.Stats) { fmt.Fprintln(stderr, s) }
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	summary, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return loadgenUsageError(stderr, err)
	}
	if err := summary.WriteText(stdout); err != nil {
		fmt.Fprintf(stderr, "stablering loadgen: writing the summary: %v\n", err)
		return 1
	}
	if jsonPath != "" {
		if err := writeSummaryJSON(jsonPath, summary); err != nil {
			fmt.Fprintf(stderr, "stablering loadgen: %v\n", err)
			return 1
		}
	}
	return 0
}

func loadgenUsageError(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "stablering loadgen: %v\n", err)
	fmt.Fprintln(stderr, "usage: stablering loadgen [flags] (see 'stablering loadgen --help')")
	return 2
}

// loadgenFlags defines the loadgen flags, stored in cfg and jsonPath.
func loadgenFlags(cfg *loadgen.Config, jsonPath *string) *flag.FlagSet {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // runLoadgen reports errors and usage itself
	fs.StringVar(&cfg.URL, "url", cfg.URL,
		"WebSocket `URL`; a {room} in it is replaced by the room key, else the key is added as the room query parameter")
	fs.StringVar(&cfg.Host, "host", "", "Host `header` of the handshakes (default: the URL's host)")
	fs.IntVar(&cfg.Connections, "connections", cfg.Connections, "`number` of connections")
	fs.IntVar(&cfg.Rooms, "rooms", cfg.Rooms, "`number` of rooms; connection i joins room-(i mod rooms)")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "length of the run; 0 runs until SIGINT or SIGTERM")
	fs.DurationVar(&cfg.Ramp, "ramp", cfg.Ramp, "spread the first connection attempts over this `duration`")
	fs.DurationVar(&cfg.MessageInterval, "message-interval", cfg.MessageInterval,
		"each connection sends a message this often; 0 sends none")
	fs.DurationVar(&cfg.EchoTimeout, "echo-timeout", cfg.EchoTimeout,
		"how long an echo may take: a message unanswered when its connection ends is lost if sent this long before, else unconfirmed")
	fs.DurationVar(&cfg.BackoffMin, "backoff-min", cfg.BackoffMin, "first reconnect backoff ceiling")
	fs.DurationVar(&cfg.BackoffMax, "backoff-max", cfg.BackoffMax, "largest reconnect backoff ceiling")
	fs.DurationVar(&cfg.ReportInterval, "report-interval", cfg.ReportInterval,
		"print a progress line to stderr this often; 0 prints none")
	fs.StringVar(jsonPath, "json", "", "also write the summary, per-second timeline and per-connection records as JSON to `file`")
	return fs
}

func writeSummaryJSON(path string, s *loadgen.Summary) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := s.WriteJSON(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}

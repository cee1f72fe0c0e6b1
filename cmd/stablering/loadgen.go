package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/stablering/stablering/cmd/stablering/loadgen"
)

func newLoadgenCommand(*cli) *cobra.Command {
	cfg := loadgen.DefaultConfig()
	var jsonPath string
	cmd := &cobra.Command{
		Use:   "loadgen [flags]",
		Short: "drive WebSocket load at a room service and measure reconnects and room splits",
		Long: `Opens --connections WebSockets to a room service that speaks the chat example's protocol
(examples/chat), typically through a gateway; connection i joins room "room-(i mod rooms)".
Each one reconnects with exponential backoff and full jitter whenever it is disconnected, and
waits at least Retry-After after a 503. At the end (--duration, or SIGINT / SIGTERM) it prints a
summary: reconnects per connection, connections whose pod changed, rooms that changed owner,
room-split seconds, the peak second of disconnects, held answers and lost messages. Progress
lines go to stderr every --report-interval.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runLoadgen(cmd, cfg, jsonPath)
		},
	}
	loadgenFlags(cmd.Flags(), &cfg, &jsonPath)
	return cmd
}

// runLoadgen is the loadgen command.
func runLoadgen(cmd *cobra.Command, cfg loadgen.Config, jsonPath string) error {
	if cfg.ReportInterval > 0 {
		stderr := cmd.ErrOrStderr()
		cfg.OnStats = func(s loadgen.Stats) { fmt.Fprintln(stderr, s) }
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	summary, err := loadgen.Run(ctx, cfg)
	if err != nil {
		return usageError{err}
	}
	if err := summary.WriteText(cmd.OutOrStdout()); err != nil {
		return fmt.Errorf("writing the summary: %w", err)
	}
	if jsonPath != "" {
		return writeSummaryJSON(jsonPath, summary)
	}
	return nil
}

// loadgenFlags defines the loadgen flags in fs, stored in cfg and jsonPath.
func loadgenFlags(fs *pflag.FlagSet, cfg *loadgen.Config, jsonPath *string) {
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

// Chat is the example room service for StableRing: a WebSocket chat whose rooms live in one pod's
// memory. It shows the few things a service has to do to run behind StableRing.
//
// # Contract
//
//   - The room key is the "room" query parameter (/ws?room=lobby) or the path segment after
//     /rooms/ (/rooms/lobby/ws). The matching StableRing key is {source: Query, name: room} or
//     {source: Path, pathSegment: 1}.
//   - A room's state, its members and its message counter, lives only in this process's memory.
//     The service does nothing to share it: StableRing sends every connection of a room to the
//     same pod, through rollouts and restarts. A room is forgotten when its last member leaves.
//   - Shutdown is graceful. On SIGTERM the pod reports not ready, refuses new WebSockets with 503
//     and Retry-After, closes every open WebSocket with status 1001 (going away) spread evenly
//     over --shutdown-window so that clients reconnect gradually, then exits 0. Messages already
//     queued for a member are delivered before its close frame. The whole shutdown takes at most
//     the window plus five seconds for the last close handshakes: keep the pod's
//     terminationGracePeriodSeconds above that.
//
// # Protocol
//
// On joining a room the client gets a welcome naming the pod, its own client id, the number of
// members (itself included) and the room's message counter:
//
//	{"type":"welcome","room":"lobby","pod":"chat-0","client":"c7","members":3,"seq":41}
//
// Every text message a member sends is broadcast to all members of the room, the sender
// included:
//
//	{"type":"message","room":"lobby","pod":"chat-0","seq":42,"from":"c7","text":"hi"}
//
// seq counts the room's messages, so a client that sees a gap in seq missed messages, and two
// clients of one room that see different pods know the room is split. Binary messages are
// refused (close status 1003) and text messages are limited to 4 KiB (close status 1009).
//
// # Endpoints
//
//	/ws?room=R, /rooms/{room}/ws   the room's WebSocket
//	/healthz                       liveness: 200 while the process runs
//	/readyz                        readiness: 503 once shutdown has started
//	/rooms                         JSON: this pod's rooms with their member counts
//	/                              plain text naming the pod
//
// Every answer carries an X-Served-By header with the pod name.
//
// # Configuration
//
// The pod name comes from POD_NAME (a StatefulSet sets it from metadata.name), or the hostname.
//
//	--listen ADDR           listen address; default $LISTEN_ADDR, else :8080
//	--shutdown-window DUR   spread the WebSocket closes over this long on SIGTERM (default 2s)
//	--log-level LEVEL       debug, info, warn or error (default info); logs are JSON on stderr
//	--state-dir DIR         keep the rooms' counters and latest messages here across restarts
//
// # Resume
//
// Behind a ring with spec.connections.resume, the gateway keeps a client's WebSocket open while
// its pod restarts. The chat takes part: it answers each handshake that says StableRing-Resumable
// with a token holding the seq of the connection's welcome and its client id. When the
// gateway resumes the connection on the restarted pod, the token and the count of messages the
// client received give the last seq the client saw; the chat puts the connection back in its
// room without a welcome and sends the messages it missed first, so the client sees every seq
// once and in order. The missed messages come from the room's last 1024, which a pod passes to
// its successor through --state-dir (a file named after the pod, written after the shutdown's
// closes, read and removed at start; the directory must outlive the pod: a volume of the
// StatefulSet's, per pod or shared).
// Without the messages, the chat refuses the resume (503) and the gateway closes the client
// with 1012, which reconnects as without resume.
//
// # Deploying
//
// examples/chat/deploy holds its manifests, for `kubectl apply -k examples/chat/deploy`: a
// StatefulSet on OnDelete with Parallel pod management, readiness on /readyz and LISTEN_ADDR set
// to the pod's IP from the downward API (so it also runs on `make localcluster`, whose pods share
// the host's network), its headless Service, and its StableRing. `make docker-build` builds the
// image (IMG_CHAT, default stablering/chat:dev).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// config is the parsed command line and environment.
type config struct {
	listen         string
	pod            string
	shutdownWindow time.Duration
	logLevel       slog.Level
	stateDir       string
}

func main() {
	os.Exit(runCommand(os.Args[1:], os.Getenv, os.Stderr))
}

// runCommand is main with its inputs and exit code made explicit: 0 after a graceful shutdown,
// 1 when serving fails, 2 for bad flags.
func runCommand(args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "chat: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel})).With("pod", cfg.pod)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("chat failed", "err", err)
		return 1
	}
	return 0
}

// parseConfig reads the flags in args, with defaults from the environment.
func parseConfig(args []string, getenv func(string) string, output io.Writer) (config, error) {
	cfg := config{pod: getenv("POD_NAME")}
	if cfg.pod == "" {
		host, err := os.Hostname()
		if err != nil {
			return cfg, fmt.Errorf("POD_NAME is not set and the hostname is unknown: %w", err)
		}
		cfg.pod = host
	}
	listen := getenv("LISTEN_ADDR")
	if listen == "" {
		listen = ":8080"
	}

	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&cfg.listen, "listen", listen, "listen `address` (default from $LISTEN_ADDR)")
	fs.DurationVar(&cfg.shutdownWindow, "shutdown-window", 2*time.Second,
		"on SIGTERM, spread the WebSocket closes over this `duration`")
	fs.StringVar(&cfg.stateDir, "state-dir", "", "keep the rooms' counters and latest messages in this `directory` across restarts, so connections resumed by a gateway get what they missed (none: resumes are refused)")
	fs.TextVar(&cfg.logLevel, "log-level", slog.LevelInfo, "log `level`: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	switch {
	case fs.NArg() > 0:
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	case cfg.shutdownWindow < 0:
		return cfg, fmt.Errorf("--shutdown-window must not be negative (got %v)", cfg.shutdownWindow)
	}
	return cfg, nil
}

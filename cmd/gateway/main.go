// Command gateway is StableRing's gateway: a reverse proxy that routes HTTP and WebSocket
// requests by room key onto the ring each StableRing's status and MemberSlices resolve, and
// holds a restarting member's rooms instead of spilling them to a neighbour.
//
// It watches StableRings and their MemberSlices through the Kubernetes API (all namespaces, or
// --namespaces, and an optional --selector of StableRings), or reads them from --rings-file for
// running outside Kubernetes. It proxies on --listen and serves /healthz, /readyz, /metrics,
// /debug/rings and /debug/lookup on --admin. SIGTERM or SIGINT shut it down gracefully.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/stablering/stablering/cmd/internal/version"
	"github.com/stablering/stablering/gateway"
	"github.com/stablering/stablering/gateway/source"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

// flags are the command line.
type flags struct {
	listen, admin string
	ringsFile     string
	namespaces    string
	selector      string
	gw            gateway.Options
	zap           zap.Options
}

// defaultShutdownDelay is the default of --shutdown-delay, the one flag whose default is not
// gateway.DefaultOptions()'s (0 there). The library's 0 lets a Gateway embedded in a program or
// a test stop at once; a deployed gateway must keep serving, not ready, until the load
// balancers and the Service's endpoints have stopped sending to it, which takes seconds. The
// chart (gateway.shutdownDelay) and config/gateway carry the same 5s.
const defaultShutdownDelay = 5 * time.Second

// registerFlags defines the command line on fs, storing into f. Every timing and limit takes
// its default from gateway.DefaultOptions(), the single place they are set (but see
// defaultShutdownDelay); docs/user-guide.md ("Limits and timeouts") and the chart's
// gateway.limits repeat them, and their tests compare them with these flags.
func registerFlags(fs *flag.FlagSet, f *flags) {
	d := gateway.DefaultOptions()
	fs.StringVar(&f.listen, "listen", ":8080", "address to proxy on")
	fs.StringVar(&f.admin, "admin", ":9090", "address of /healthz, /readyz, /metrics and /debug")
	fs.StringVar(&f.ringsFile, "rings-file", "", "read StableRings and their MemberSlices (YAML, as kubectl get stablerings,memberslices -o yaml writes them) from this file instead of the Kubernetes API")
	fs.StringVar(&f.namespaces, "namespaces", "", "comma-separated namespaces to watch (default all)")
	fs.StringVar(&f.selector, "selector", "", "label selector of the StableRings to route (default all)")
	o := &f.gw
	fs.StringVar(&o.MemberHeader, "member-header", "", "response header naming the member (namespace/name/ordinal) that served, e.g. X-StableRing-Member (default none)")
	fs.BoolVar(&o.TrustForwarded, "trust-forwarded", false, "keep and append to clients' X-Forwarded-* headers (behind a trusted proxy)")

	// Timeouts and limits (docs/user-guide.md, "Limits and timeouts"). Zero takes the default,
	// except for --shutdown-delay, where it means none.
	fs.DurationVar(&o.DialTimeout, "dial-timeout", d.DialTimeout, "timeout for connecting to a member; on expiry the member is unreachable for --fail-timeout")
	fs.DurationVar(&o.UpgradeTimeout, "upgrade-timeout", d.UpgradeTimeout, "timeout for a member's answer to a WebSocket handshake (504)")
	fs.DurationVar(&o.FailTimeout, "fail-timeout", d.FailTimeout, "how long a member whose dial failed is treated as unreachable")
	fs.DurationVar(&o.ReadHeaderTimeout, "read-header-timeout", d.ReadHeaderTimeout, "timeout for reading a client's request head (the connection is closed without an answer)")
	fs.DurationVar(&o.ClientBodyTimeout, "client-body-timeout", d.ClientBodyTimeout, "timeout for each wait for the next bytes of a client's request body (408)")
	fs.DurationVar(&o.SendTimeout, "send-timeout", d.SendTimeout, "timeout for each write to a client, and each write of a spliced WebSocket, that makes no progress (the connection is closed)")
	fs.DurationVar(&o.MemberReadTimeout, "member-read-timeout", d.MemberReadTimeout, "timeout for a member's first byte after the request, then for each read of its answer (504 before the answer started); not for WebSockets")
	fs.DurationVar(&o.IdleTimeout, "idle-timeout", d.IdleTimeout, "idle timeout of client keep-alive connections")
	fs.DurationVar(&o.UpstreamIdleTimeout, "upstream-idle-timeout", d.UpstreamIdleTimeout, "idle timeout of pooled member connections")
	fs.IntVar(&o.MaxHeaderBytes, "max-header-bytes", d.MaxHeaderBytes, "largest request head in bytes, request line included (431)")
	fs.IntVar(&o.MaxHeaders, "max-headers", d.MaxHeaders, "most header fields of a request (431)")
	fs.IntVar(&o.MaxConnections, "max-connections", d.MaxConnections, "most client connections open at once, beyond which new ones wait in the listen backlog; 0 is half the open-files limit")
	fs.IntVar(&o.MaxIdleConnsPerMember, "max-idle-conns-per-member", d.MaxIdleConnsPerMember, "keep-alive connections pooled per member")
	fs.DurationVar(&o.CloseGrace, "close-grace", d.CloseGrace, "wait for a frame boundary, then for the client's close answer, when closing a WebSocket")
	fs.DurationVar(&o.ReunionWindow, "reunion-window", d.ReunionWindow, "spread the closes that move failed-over rooms back to their owner over this window")
	fs.DurationVar(&o.MaxRetryAfter, "max-retry-after", d.MaxRetryAfter, "cap of the Retry-After of held requests")
	fs.IntVar(&o.ResumeBufferBudget, "resume-buffer-budget", d.ResumeBufferBudget, "bytes of client frames that all WebSockets held through their members' restarts (spec.connections.resume) may buffer together")
	fs.DurationVar(&o.ShutdownDelay, "shutdown-delay", defaultShutdownDelay, "keep serving this long after SIGTERM while not ready, so load balancers stop sending")
	fs.DurationVar(&o.ShutdownWindow, "shutdown-window", d.ShutdownWindow, "spread the WebSocket closes (1001) of a shutdown over this window")

	fs.BoolVar(&o.H2C, "h2c", false, "accept HTTP/2 without TLS (prior knowledge)")
	fs.BoolVar(&o.Pprof, "pprof", false, "serve the Go runtime's profiles under /debug/pprof/ on the admin port")
	fs.StringVar(&o.TLSCertFile, "tls-cert", "", "serve TLS (and HTTP/2) with this certificate")
	fs.StringVar(&o.TLSKeyFile, "tls-key", "", "key of --tls-cert")
	f.zap.BindFlags(fs)
}

func parseFlags() *flags {
	f := &flags{}
	fs := flag.CommandLine
	registerFlags(fs, f)
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	flag.Parse()
	if *showVersion {
		fmt.Println(version.String("gateway"))
		os.Exit(0)
	}
	return f
}

// usage heads the -help output.
const usage = `Usage: gateway [flags]

StableRing's gateway routes HTTP and WebSocket requests by room key onto the ring each
StableRing's status and MemberSlices resolve, and holds a restarting member's rooms instead of
moving them to another pod. It watches StableRings and MemberSlices through the Kubernetes API
(or reads --rings-file), proxies on --listen, and serves /healthz, /readyz, /metrics and /debug/
on --admin. docs/user-guide.md lists every limit and timeout below, with what a client sees when
it is reached.

Flags:
`

func run() error {
	f := parseFlags()
	log := zap.New(zap.UseFlagOptions(&f.zap))
	logf.SetLogger(log)
	if (f.gw.TLSCertFile == "") != (f.gw.TLSKeyFile == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	src, err := newSource(f, log)
	if err != nil {
		return err
	}
	proxyLn, err := gateway.Listen(context.Background(), f.listen)
	if err != nil {
		return err
	}
	adminLn, err := net.Listen("tcp", f.admin)
	if err != nil {
		return err
	}
	f.gw.Log = log
	g := gateway.New(f.gw)

	signals, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctx, cancel := context.WithCancelCause(signals)
	defer cancel(nil)
	go func() {
		if err := src.Run(ctx, g.Update); err != nil {
			cancel(fmt.Errorf("StableRing source: %w", err))
		}
	}()
	log.Info("gateway serving", "version", version.Current(), "listen", proxyLn.Addr().String(),
		"admin", adminLn.Addr().String())
	if err := g.Serve(ctx, proxyLn, adminLn); err != nil {
		return err
	}
	if cause := context.Cause(ctx); !errors.Is(cause, context.Canceled) {
		return cause
	}
	return nil
}

// newSource is the rings file, or the Kubernetes API.
func newSource(f *flags, log logr.Logger) (source.Source, error) {
	if f.ringsFile != "" {
		if f.namespaces != "" || f.selector != "" {
			return nil, errors.New("--namespaces and --selector apply to the Kubernetes API, not --rings-file")
		}
		return &source.File{Path: f.ringsFile, Log: log.WithName("rings-file")}, nil
	}
	cfg, err := config.GetConfig()
	if err != nil {
		return nil, err
	}
	inf := &source.Informer{Config: cfg, Log: log.WithName("informer")}
	if f.selector != "" {
		if inf.Selector, err = labels.Parse(f.selector); err != nil {
			return nil, fmt.Errorf("--selector: %w", err)
		}
	}
	for ns := range strings.SplitSeq(f.namespaces, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			inf.Namespaces = append(inf.Namespaces, ns)
		}
	}
	return inf, nil
}

// Command wsbench measures a WebSocket proxy. Every connection asks for /ws?room=N with N
// drawn from -rooms; with several -targets, connection i goes to target i mod len(targets);
// with -sources, connection i is opened from source address i mod len(sources), so that
// tens of thousands of connections do not run out of ephemeral ports. Modes:
//
//	wsbench upgrades -concurrency 64 -duration 10s
//	    open, complete the handshake and close connections back to back on -concurrency
//	    workers: the new-connection capacity (a reconnect storm). Prints a bench.LoadResult
//	    whose latency is the time from connect to the 101 answer.
//	wsbench idle -conns 10000 -pids 123,124
//	    read the summed VmRSS of -pids, open -conns idle connections, wait -settle, read VmRSS
//	    again, check every connection echoes a message, print a bench.IdleResult, keep the
//	    connections open for -hold (for profiles), then close them. The connections are held
//	    by child processes (wsbench hold), each with at most -per-process of them, so that
//	    the count is not bounded by one process's open-files limit.
//	wsbench hold -first 0 -conns 10000
//	    the child of idle: open connections -first to -first+-conns-1, print how many failed,
//	    echo a message on each when a line arrives on standard input, print how many echoed,
//	    and close them at the end of standard input.
//	wsbench rtt -conns 1000 -rate 5000 -duration 10s
//	    open -conns connections, then send -size byte messages at -rate per second in total,
//	    each on a connection that is not waiting for an echo, and print a bench.LoadResult of
//	    the round trips, measured from when each message was due (open loop).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stablering/stablering/test/bench"
	"github.com/stablering/stablering/test/bench/internal/wsclient"
)

// options are the flags of all modes.
type options struct {
	targets     []string
	sources     []net.IP
	path        string
	rooms       int
	timeout     time.Duration
	concurrency int
	duration    time.Duration
	warmup      time.Duration
	conns       int
	first       int
	perProcess  int
	pids        []int
	settle      time.Duration
	hold        time.Duration
	rate        float64
	size        int
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: wsbench upgrades|idle|hold|rtt [flags]")
		os.Exit(2)
	}
	mode := os.Args[1]
	o, err := parseFlags(mode, os.Args[2:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsbench:", err)
		os.Exit(2)
	}
	switch mode {
	case "upgrades":
		err = upgrades(o)
	case "idle":
		err = idle(o)
	case "hold":
		err = hold(o)
	case "rtt":
		err = rtt(o)
	default:
		err = fmt.Errorf("unknown mode %q: want upgrades, idle, hold or rtt", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsbench:", err)
		os.Exit(1)
	}
}

func parseFlags(mode string, args []string) (*options, error) {
	fs := flag.NewFlagSet("wsbench "+mode, flag.ContinueOnError)
	targets := fs.String("targets", "127.0.0.1:8080", "comma-separated host:port to connect to")
	sources := fs.String("sources", "", "comma-separated local IP addresses to connect from (default any)")
	pids := fs.String("pids", "", "idle: comma-separated PIDs of the proxy's processes")
	o := &options{}
	fs.StringVar(&o.path, "path", "/ws", "request path; ?room=N is appended")
	fs.IntVar(&o.rooms, "rooms", 1000, "number of distinct rooms")
	fs.DurationVar(&o.timeout, "timeout", 5*time.Second, "timeout of a handshake or round trip")
	fs.IntVar(&o.concurrency, "concurrency", 64, "upgrades: workers; idle, rtt: handshakes in flight while opening")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "upgrades, rtt: measured duration")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "upgrades, rtt: unmeasured duration before")
	fs.IntVar(&o.conns, "conns", 1000, "idle, hold, rtt: connections")
	fs.IntVar(&o.first, "first", 0, "hold: number of the first connection")
	fs.IntVar(&o.perProcess, "per-process", defaultPerProcess(), "idle: connections per holding process (default from the open-files limit)")
	fs.DurationVar(&o.settle, "settle", 3*time.Second, "idle: wait after opening before reading VmRSS")
	fs.DurationVar(&o.hold, "hold", 0, "idle: keep the connections open this long after printing the result")
	fs.Float64Var(&o.rate, "rate", 1000, "rtt: messages per second, in total")
	fs.IntVar(&o.size, "size", 32, "rtt: message size in bytes")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	o.targets = strings.Split(*targets, ",")
	for s := range strings.SplitSeq(*sources, ",") {
		if s == "" {
			continue
		}
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, fmt.Errorf("-sources: bad IP address %q", s)
		}
		o.sources = append(o.sources, ip)
	}
	for s := range strings.SplitSeq(*pids, ",") {
		if s == "" {
			continue
		}
		pid, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("-pids: %w", err)
		}
		o.pids = append(o.pids, pid)
	}
	if o.concurrency <= 0 || o.conns <= 0 || o.rooms <= 0 || o.rate <= 0 || o.perProcess <= 0 {
		return nil, errors.New("-concurrency, -conns, -rooms, -rate and -per-process must be positive")
	}
	if o.first < 0 {
		return nil, errors.New("-first must not be negative")
	}
	return o, nil
}

// dial opens connection number i.
func (o *options) dial(ctx context.Context, i int) (*wsclient.Conn, error) {
	var src net.IP
	if len(o.sources) > 0 {
		src = o.sources[i%len(o.sources)]
	}
	target := o.targets[i%len(o.targets)]
	path := o.path + "?room=" + strconv.Itoa(rand.IntN(o.rooms))
	return wsclient.Dial(ctx, src, target, target, path, o.timeout)
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// upgrades opens and closes connections back to back.
func upgrades(o *options) error {
	var seq atomic.Int64
	load := bench.ClosedLoop{Workers: o.concurrency, Warmup: o.warmup, Duration: o.duration}
	res := load.Run(context.Background(), func(ctx context.Context, _ int, _ *bench.Recorder) error {
		c, err := o.dial(ctx, int(seq.Add(1)))
		if err != nil {
			return err
		}
		return c.Close()
	})
	return printJSON(res)
}

// maxOpenErrors is how many of openAll's errors it keeps.
const maxOpenErrors = 5

// openAll opens o.conns connections, numbered from o.first, o.concurrency at a time; failed
// ones are nil, and the first few failures are described in errs.
func openAll(o *options) (conns []*wsclient.Conn, failed int, errs []string) {
	conns = make([]*wsclient.Conn, o.conns)
	var nfailed atomic.Int64
	var mu sync.Mutex
	next := make(chan int)
	var wg sync.WaitGroup
	for range o.concurrency {
		wg.Go(func() {
			for i := range next {
				c, err := o.dial(context.Background(), o.first+i)
				if err != nil {
					nfailed.Add(1)
					mu.Lock()
					if len(errs) < maxOpenErrors {
						errs = append(errs, fmt.Sprintf("connection %d: %v", o.first+i, err))
					}
					mu.Unlock()
					continue
				}
				conns[i] = c
			}
		})
	}
	for i := range conns {
		next <- i
	}
	close(next)
	wg.Wait()
	return conns, int(nfailed.Load()), errs
}

func closeAll(conns []*wsclient.Conn) {
	for _, c := range conns {
		if c != nil {
			_ = c.Close()
		}
	}
}

// roundTrip sends msg on c and waits for the echo.
func roundTrip(c *wsclient.Conn, msg, buf []byte, timeout time.Duration) error {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if err := c.WriteText(msg); err != nil {
		return err
	}
	got, err := c.ReadMessage(buf)
	if err != nil {
		return err
	}
	if len(got) != len(msg) {
		return fmt.Errorf("echo of %d bytes, sent %d", len(got), len(msg))
	}
	return nil
}

// rtt measures message round trips at a fixed aggregate rate.
func rtt(o *options) error {
	conns, failed, errs := openAll(o)
	defer closeAll(conns)
	if failed > 0 {
		return fmt.Errorf("%d of %d connections failed to open: %s", failed, o.conns, strings.Join(errs, "; "))
	}
	msg := make([]byte, o.size)
	for i := range msg {
		msg[i] = 'a' + byte(i%26)
	}
	bufs := make([][]byte, len(conns))
	load := bench.OpenLoop{Rate: o.rate, Warmup: o.warmup, Duration: o.duration, Workers: len(conns), Drain: o.timeout}
	res := load.Run(context.Background(), func(_ context.Context, w int, _ *bench.Recorder) error {
		if conns[w] == nil {
			return errors.New("connection lost")
		}
		if bufs[w] == nil {
			bufs[w] = make([]byte, o.size)
		}
		err := roundTrip(conns[w], msg, bufs[w], o.timeout)
		if err != nil {
			_ = conns[w].Close()
			conns[w] = nil
		}
		return err
	})
	return printJSON(res)
}

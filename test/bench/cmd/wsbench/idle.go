package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stablering/stablering/test/bench"
	"github.com/stablering/stablering/test/bench/internal/wsclient"
	"github.com/stablering/stablering/test/internal/procstat"
)

// defaultPerProcess is how many connections a holding process takes: its open-files limit,
// less a margin for the process's own files, rounded down to a thousand.
func defaultPerProcess() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < 2000 {
		return 1000
	}
	return int((lim.Cur - 500) / 1000 * 1000)
}

// idle measures the proxy's memory per idle connection, with the connections held by
// children (wsbench hold) of at most o.perProcess connections each.
func idle(o *options) error {
	if len(o.pids) == 0 {
		return errors.New("idle needs -pids")
	}
	before, err := rss(o.pids)
	if err != nil {
		return err
	}
	var holders []*holder
	defer func() {
		for _, h := range holders {
			h.stop()
		}
	}()
	res := bench.IdleResult{RSSBefore: before}
	for first := 0; first < o.conns; first += o.perProcess {
		h, err := startHolder(o, first, min(o.perProcess, o.conns-first))
		if err != nil {
			return err
		}
		holders = append(holders, h)
	}
	for _, h := range holders { // they open their connections in parallel
		failed, err := h.read()
		if err != nil {
			return err
		}
		res.Failed += failed
	}
	time.Sleep(o.settle)
	if res.RSSAfter, err = rss(o.pids); err != nil {
		return err
	}
	res.Conns = o.conns - res.Failed
	if res.Conns > 0 {
		res.BytesPerConn = float64(res.RSSAfter-res.RSSBefore) / float64(res.Conns)
	}
	for _, h := range holders {
		echoed, err := h.echo()
		if err != nil {
			return err
		}
		res.Echoed += echoed
	}
	if err := printJSON(res); err != nil {
		return err
	}
	time.Sleep(o.hold)
	return nil
}

// holder is a child process (wsbench hold) holding some of idle's connections.
type holder struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Scanner
}

// startHolder starts a child holding conns connections numbered from first.
func startHolder(o *options, first, conns int) (*holder, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	sources := make([]string, len(o.sources))
	for i, ip := range o.sources {
		sources[i] = ip.String()
	}
	cmd := exec.Command(self, "hold", "-targets", strings.Join(o.targets, ","), "-sources", strings.Join(sources, ","),
		"-path", o.path, "-rooms", strconv.Itoa(o.rooms), "-timeout", o.timeout.String(),
		"-concurrency", strconv.Itoa(o.concurrency), "-first", strconv.Itoa(first), "-conns", strconv.Itoa(conns))
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &holder{cmd: cmd, stdin: stdin, stdout: bufio.NewScanner(stdout)}, nil
}

// read waits for the next count the child prints.
func (h *holder) read() (int, error) {
	if !h.stdout.Scan() {
		err := h.stdout.Err()
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return 0, fmt.Errorf("wsbench hold (pid %d): %w", h.cmd.Process.Pid, err)
	}
	return strconv.Atoi(strings.TrimSpace(h.stdout.Text()))
}

// echo asks the child to echo a message on each of its connections and returns how many did.
func (h *holder) echo() (int, error) {
	if _, err := io.WriteString(h.stdin, "echo\n"); err != nil {
		return 0, err
	}
	return h.read()
}

// stop ends the child's standard input, so it closes its connections and exits, and waits.
func (h *holder) stop() {
	_ = h.stdin.Close()
	_ = h.cmd.Wait()
}

// hold opens o.conns connections numbered from o.first and prints how many failed (and the
// first few failures to standard error), echoes a message on each for every line read from
// standard input and prints how many echoed, and closes them when standard input ends.
func hold(o *options) error {
	conns, failed, errs := openAll(o)
	defer closeAll(conns)
	for _, e := range errs { // to idle's standard error: benchrun's tools.log
		fmt.Fprintf(os.Stderr, "wsbench hold: %s\n", e)
	}
	fmt.Println(failed)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		fmt.Println(echoAll(conns, o))
	}
	return in.Err()
}

// echoAll sends a message on every open connection and counts the echoes.
func echoAll(conns []*wsclient.Conn, o *options) int {
	var echoed atomic.Int64
	next := make(chan *wsclient.Conn)
	var wg sync.WaitGroup
	for range o.concurrency {
		wg.Go(func() {
			msg, buf := []byte("ping"), make([]byte, 64)
			for c := range next {
				if roundTrip(c, msg, buf, o.timeout) == nil {
					echoed.Add(1)
				}
			}
		})
	}
	for _, c := range conns {
		if c != nil {
			next <- c
		}
	}
	close(next)
	wg.Wait()
	return int(echoed.Load())
}

// rss sums the resident memory of pids, in bytes.
func rss(pids []int) (int64, error) {
	var total int64
	for _, pid := range pids {
		n, err := procstat.RSS(pid)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

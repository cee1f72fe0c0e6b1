package tunnel

import (
	"encoding/binary"
	"errors"
	"maps"
	"net"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/stablering/stablering/gateway/wsframe"
)

// A raw tunnel is a tunnel between two sockets that an event loop of the package runs on their
// descriptors, as nginx's workers do: the loop blocks in epoll_wait on a thread of its own, and
// for each readiness it reads the source once (again only while reads fill the buffer), tracks
// the frames and writes to the other socket, with no goroutine to wake and no Go netpoller in
// between. See the package documentation for why and what it costs.
//
// The loop owns the two descriptors: Start takes them as they are where it can (a released
// client socket, a dialled Conn's) and duplicates the others, closing their net.Conns, which
// takes them out of Go's netpoller (otherwise every message would wake it as well).
// Only the loop reads, writes and closes them, so a descriptor can never be reused under it.
// Everything a tunnel does happens on its loop: Close and Kill are requests the loop takes
// from its inbox, and done is called on a goroutine the loop starts.

// rawEvents are the events a raw tunnel's sockets are registered for: readable, and the peer
// shut down its side (EPOLLERR and EPOLLHUP are always reported); edge-triggered, so the loop
// reads until a read does not fill its buffer. A socket that a write found full is registered
// for writable too (EPOLLOUT, reported only after such a write), from then on: not at first,
// as a new socket is writable and would wake the loop for nothing.
const rawEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP |
	syscall.EPOLLET&0xffffffff // EPOLLET is negative in package syscall

// wakeKey is the event key of a loop's eventfd; tunnels' keys start above it.
const wakeKey = 1

// client and backend index a raw tunnel's sockets, and its directions by their source.
const (
	client  = 0
	backend = 1
)

// closeStep is how far a requested close has come.
type closeStep uint8

const (
	notClosing closeStep = iota
	toBoundary           // the backend's frames are forwarded up to the next boundary
	sending              // the Close frame is being written to the client
	awaiting             // the Close frame is written; the client's answer is awaited
)

// rawLoop is one event loop and the raw tunnels it runs.
type rawLoop struct {
	epfd, wakefd int
	events       [128]syscall.EpollEvent

	mu      sync.Mutex
	entries map[uint64]entry // raw tunnels and Conns, by key
	last    uint64           // the last key given
	inbox   []request        // Close and Kill requests, in order
	broken  bool             // epoll failed: the loop has stopped

	// The loop's own: requests is the inbox swapped out, timed the tunnels with a deadline,
	// again the directions that stopped reading at fairRun to let others go first, handed
	// says the round has woken a goroutine waiting for a Conn (handOff).
	requests []request
	timed    map[*rawTunnel]struct{}
	again    []direct
	handed   bool
}

// entry is what a loop reports events to: a raw tunnel, or a Conn not yet taken by one.
type entry interface {
	// ready handles the events reported for socket i (client or backend).
	ready(i int, events uint32)
	// loopStopped is called when the loop stops (epoll failed).
	loopStopped()
}

// direct is one direction of a raw tunnel: the one from socket i.
type direct struct {
	rt *rawTunnel
	i  int
}

// fairRun is how many buffers the loop reads from one socket in a row before it serves the
// others, so that a flood through one tunnel cannot hold up the rest.
const fairRun = 16

// request is Close (with its status code and reason) or Kill, for the loop to carry out.
type request struct {
	rt     *rawTunnel
	kill   bool
	code   uint16
	reason string
}

// rawTunnel is a tunnel's state on its loop. All of it is the loop's.
type rawTunnel struct {
	t    *Tunnel
	l    *rawLoop
	key  uint64
	fd   [2]int // client, backend
	tr   [2]*wsframe.Tracker
	done bool    // the tunnel has ended
	out  [2]bool // fd[i] is registered for EPOLLOUT too

	// pending[i] holds what was read from fd[i] and could not yet be written to the other
	// socket, in a pool buffer; sendBy[i] is when that write must have completed, zero for
	// never. A direction with something pending reads no more until it is written.
	pending [2][]byte
	sendBy  [2]time.Time
	// answerPending says a Close frame from the client ends in pending[client].
	answerPending bool

	// A close: the step it has come to, the Close frame, the end of the grace to reach the
	// client's Close frame written, and the end of the wait for its answer (then also of
	// the whole close).
	step      closeStep
	frame     []byte
	graceEnd  time.Time
	answerEnd time.Time
	answered  bool // the client has sent its Close frame, or ended
}

// rawLoops are the package's event loops, started on first use (see LoopCount).
var rawLoops struct {
	once sync.Once
	all  []*rawLoop
	next atomic.Uint32
}

// pickLoop returns a loop for a new raw tunnel, nil if none could be started.
func pickLoop() *rawLoop {
	rawLoops.once.Do(func() {
		for range LoopCount(runtime.GOMAXPROCS(0)) {
			l, err := newRawLoop()
			if err != nil {
				break
			}
			rawLoops.all = append(rawLoops.all, l)
			go l.run()
		}
	})
	if len(rawLoops.all) == 0 {
		return nil
	}
	l := rawLoops.all[rawLoops.next.Add(1)%uint32(len(rawLoops.all))]
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.broken {
		return nil
	}
	return l
}

// LoopCount is how many event loops a process with procs of Go's processors runs: one for
// every two, at most four. A loop waiting in epoll_wait holds a processor until Go's scheduler
// takes it back for other goroutines, which takes it up to 10 ms when the process has been
// quiet; with a single processor every request would wait for that, so there is no loop then,
// and tunnels run on goroutines.
func LoopCount(procs int) int { return min(procs/2, 4) }

func newRawLoop() (*rawLoop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wakefd, _, errno := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if errno != 0 {
		_ = syscall.Close(epfd)
		return nil, os.NewSyscallError("eventfd2", errno)
	}
	ev := keyedEvent(syscall.EPOLLIN, wakeKey)
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, int(wakefd), &ev); err != nil {
		_ = syscall.Close(epfd)
		_ = syscall.Close(int(wakefd))
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	return &rawLoop{epfd: epfd, wakefd: int(wakefd), entries: map[uint64]entry{},
		timed: map[*rawTunnel]struct{}{}}, nil
}

// rawTunnels says tunnels between two sockets run as raw tunnels; the tests turn it off to run
// them on goroutines, as tunnels with another connection (TLS) do.
var rawTunnels = true

// startRaw starts t as a raw tunnel, if both its connections are sockets and a loop runs, and
// reports whether it did. A backend that is a Conn keeps its socket and its loop.
func (t *Tunnel) startRaw() bool {
	if !rawTunnels || t.up.src == nil {
		return false
	}
	conn, _ := t.backend.(*Conn)
	if conn == nil && t.down.src == nil {
		return false
	}
	t.mu.Lock()
	var rt *rawTunnel
	look := false
	if t.closing == nil && !t.shutDown {
		rt, look = t.raw(conn)
	} // else closed or killed before Start: the goroutines carry that out, as they began it
	if rt == nil {
		t.mu.Unlock()
		return false
	}
	t.rt = rt // from now on Close and Kill are requests to the loop
	// The net.Conns go: closing them takes the sockets out of Go's netpoller, and dropping
	// them frees what they hold for the tunnel's life. A Conn's Close does nothing now.
	c, b := t.client, t.backend
	t.client, t.backend = nil, nil
	t.up.conn, t.up.src, t.down.conn, t.down.src = nil, nil, nil, nil
	t.mu.Unlock()
	_ = c.Close()
	_ = b.Close()
	rt.l.adopt(rt, look)
	return true
}

// raw returns a raw tunnel for t on its client socket (see clientSocket) and, for its
// backend, the socket of conn (which brings its loop, key and registration) or, when conn is
// nil, a duplicate of the backend socket on a loop of its choice. It returns nil if conn is
// closed, no loop runs or a duplication failed; look says the backend socket may have data the
// loop reported to conn. What can fail for a backend from Go's net package is done before the
// client socket is taken, so that the tunnel can still run on goroutines then.
func (t *Tunnel) raw(conn *Conn) (rt *rawTunnel, look bool) {
	bfd, l := -1, (*rawLoop)(nil)
	if conn == nil {
		if l = pickLoop(); l == nil {
			return nil, false
		}
		var err error
		if bfd, err = dupSocket(t.down.src); err != nil {
			return nil, false
		}
	}
	cfd, err := clientSocket(t.client, t.up.src)
	if err != nil {
		if bfd >= 0 {
			_ = syscall.Close(bfd)
		}
		return nil, false
	}
	rt = &rawTunnel{t: t, fd: [2]int{cfd, bfd}, l: l, tr: [2]*wsframe.Tracker{&t.up.tr, &t.down.tr}}
	if conn != nil {
		var ok bool
		// take fails only when conn is closed, which ends the tunnel either way.
		if ok, look = conn.take(rt); !ok {
			_ = syscall.Close(cfd)
			return nil, false
		}
	}
	return rt, look
}

// clientSocket returns the client's socket for a raw tunnel: the socket itself from a
// SocketReleaser that gives it up, else a duplicate of rc's.
func clientSocket(c net.Conn, rc syscall.RawConn) (int, error) {
	if r, ok := c.(SocketReleaser); ok {
		if fd, ok := r.ReleaseSocket(); ok {
			return fd, nil
		}
	}
	return dupSocket(rc)
}

// dupSocket returns a new descriptor of rc's socket, close-on-exec.
func dupSocket(rc syscall.RawConn) (int, error) {
	fd, errno := -1, syscall.Errno(0)
	err := rc.Control(func(s uintptr) {
		var r uintptr
		r, _, errno = syscall.Syscall(syscall.SYS_FCNTL, s, syscall.F_DUPFD_CLOEXEC, 0)
		fd = int(r)
	})
	if err != nil {
		return -1, err
	}
	if errno != 0 {
		return -1, os.NewSyscallError("fcntl", errno)
	}
	return fd, nil
}

// enter makes e the entry of a new key of l and stores the key in *key, under l's lock (the
// loop reads it there); false if the loop stopped.
func (l *rawLoop) enter(e entry, key *uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.broken {
		return false
	}
	l.last++
	*key = wakeKey + l.last
	l.entries[*key] = e
	return true
}

// adopt registers rt's sockets with l; the loop runs it from then on. A tunnel that took a
// Conn's socket (Conn.take) has the Conn's key, entry and backend registration already; when
// look says the loop may have reported data to the Conn, re-registering the backend socket
// reports it again, to the tunnel. Should a registration fail, or the loop have stopped, the
// tunnel ends.
func (l *rawLoop) adopt(rt *rawTunnel, look bool) {
	took := rt.key != 0 // Conn.take gave it the Conn's key; else it enters the loop now
	if !took && !l.enter(rt, &rt.key) || took && l.stopped() {
		rt.end()
		return
	}
	ok := rt.register(client, syscall.EPOLL_CTL_ADD, rawEvents)
	switch {
	case !took:
		ok = ok && rt.register(backend, syscall.EPOLL_CTL_ADD, rawEvents)
	case look:
		ok = ok && rt.register(backend, syscall.EPOLL_CTL_MOD, rt.events(backend))
	}
	if !ok {
		l.post(request{rt: rt, kill: true})
	}
}

// stopped reports whether l has stopped.
func (l *rawLoop) stopped() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.broken
}

// add registers a Conn's socket with l, for reads, as a raw tunnel's sockets are: for writes
// too only once a write or the connect has to wait (Conn.awaitWritable). Registered for writes
// from the start, the socket of a connect made at once would be reported writable as soon as it
// is added, and the loop woken for nothing at every handshake.
func (l *rawLoop) add(c *Conn) error {
	if !l.enter(c, &c.key) {
		return ErrNoLoop
	}
	if err := l.ctl(syscall.EPOLL_CTL_ADD, c.fd, c.key, backend, rawEvents); err != nil {
		l.remove(c.key)
		return err
	}
	return nil
}

// ctl adds socket i (client or backend) of the entry of key, whose descriptor is fd, to l's
// epoll instance for events, or changes its events (op). Its events carry the key and i.
func (l *rawLoop) ctl(op, fd int, key uint64, i int, events uint32) error {
	ev := keyedEvent(events, key<<1|uint64(i))
	if err := syscall.EpollCtl(l.epfd, op, fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// remove forgets the entry of key.
func (l *rawLoop) remove(key uint64) {
	l.mu.Lock()
	delete(l.entries, key)
	l.mu.Unlock()
}

// events are the events socket i is registered for.
func (rt *rawTunnel) events(i int) uint32 {
	if rt.out[i] {
		return rawEvents | syscall.EPOLLOUT
	}
	return rawEvents
}

// register adds socket i to the loop's epoll instance for events, or changes its events (op),
// and reports success.
func (rt *rawTunnel) register(i, op int, events uint32) bool {
	return rt.l.ctl(op, rt.fd[i], rt.key, i, events) == nil
}

// post hands r to the loop and wakes it.
func (l *rawLoop) post(r request) {
	l.mu.Lock()
	l.inbox = append(l.inbox, r)
	l.mu.Unlock()
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	_, _ = syscall.Write(l.wakefd, one[:])
}

// close asks rt's loop for a graceful close; see Tunnel.Close.
func (rt *rawTunnel) close(code uint16, reason string) {
	rt.l.post(request{rt: rt, code: code, reason: reason})
}

// kill asks rt's loop to end rt at once.
func (rt *rawTunnel) kill() { rt.l.post(request{rt: rt, kill: true}) }

// run is the loop. It runs for the life of the process, unless epoll_wait fails (only a bug
// gets there: EBADF, EFAULT, EINVAL); then it ends its tunnels, whose clients reconnect, and
// new tunnels go to other loops or run on goroutines.
func (l *rawLoop) run() {
	now := time.Now()
	yielded := now
	for {
		timeout := l.timeout(now)
		if len(l.again) > 0 {
			timeout = 0
		}
		n, err := syscall.EpollWait(l.epfd, l.events[:], timeout)
		if err != nil && !errors.Is(err, syscall.EINTR) {
			l.stop()
			return
		}
		for _, ev := range l.events[:max(n, 0)] {
			k := eventKey(ev)
			if k == wakeKey {
				l.takeRequests()
				continue
			}
			l.mu.Lock()
			e := l.entries[k>>1]
			l.mu.Unlock()
			if e != nil {
				e.ready(int(k&1), ev.Events)
			}
		}
		l.resumeRuns()
		now = time.Now()
		l.expire(now)
		if l.handed || now.Sub(yielded) >= yieldEvery {
			runtime.Gosched()
			yielded, l.handed = now, false
		}
	}
}

// handOff wakes the goroutine waiting on ch for a Conn's socket, and makes the loop yield its
// processor at the end of the round, so that the goroutines it woke run next on this thread.
// Woken from here, a goroutine goes to the queue of the processor the loop keeps through its
// epoll_wait, where only another thread can take it: a thread woken for it (a futex call and a
// context switch), or an idle one that takes it after a short sleep (nanosleep). Measured with
// wsbench upgrades at 64 workers (perf stat on the gateway's PID, 3 s, per upgrade): context
// switches 1.06–1.31 without the yield against 0.79–0.83 with it, nanosleep 0.11–0.37 against
// 0.04–0.05, the runtime's epoll_pwait 0.68–0.77 against 0.40–0.49, all system calls 18.3
// against 17.6.
func (l *rawLoop) handOff(ch chan struct{}) {
	signal(ch)
	l.handed = true
}

// yieldEvery is how often a busy loop yields its processor. Go's scheduler takes the processor
// of a goroutine that has run for 10 ms without yielding (forcePreemptNS in the runtime) and,
// when that goroutine is in a system call, hands the processor to another thread; the loop,
// which never parks, would lose its processor in every epoll_wait after its first 10 ms, and
// each time the runtime's monitor thread goes back to waking every 20 µs for a while. A yield
// every few milliseconds starts a new time slice instead. Measured with 1,000 WebSockets
// carrying 5,000 messages/s: the monitor thread's sleeps went from about 3,000 to 100 a
// second, context switches from 1.81 to 1.34 per message (nginx: 1.35), and CPU per message
// from 34.5–39 µs to 28.5–30 µs (nginx in the same runs: 31–33.5 µs).
const yieldEvery = 4 * time.Millisecond

// resumeRuns goes on with the directions that stopped at fairRun.
func (l *rawLoop) resumeRuns() {
	runs := l.again
	l.again = nil
	for _, d := range runs {
		d.rt.pump(d.i)
	}
}

// stop marks l broken and ends its tunnels.
func (l *rawLoop) stop() {
	l.mu.Lock()
	l.broken = true
	all := slices.Collect(maps.Values(l.entries))
	l.mu.Unlock()
	for _, e := range all {
		e.loopStopped()
	}
}

// ready handles the events reported for rt's socket i.
func (rt *rawTunnel) ready(i int, events uint32) {
	if events&(syscall.EPOLLOUT|syscall.EPOLLERR|syscall.EPOLLHUP) != 0 && rt.pending[1-i] != nil {
		rt.flush(1 - i)
	}
	if events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLERR|syscall.EPOLLHUP) != 0 {
		rt.pump(i)
	}
}

// takeRequests carries out the Close and Kill requests posted to l.
func (l *rawLoop) takeRequests() {
	var count [8]byte
	_, _ = syscall.Read(l.wakefd, count[:])
	l.mu.Lock()
	l.requests, l.inbox = l.inbox, l.requests[:0]
	l.mu.Unlock()
	for i, r := range l.requests {
		switch {
		case r.rt.done:
		case r.kill:
			r.rt.end()
		default:
			r.rt.startClose(r.code, r.reason)
		}
		l.requests[i] = request{}
	}
}

// timeout returns how long epoll_wait may wait, in milliseconds: until the first deadline of
// a tunnel, rounded up, or forever (-1).
func (l *rawLoop) timeout(now time.Time) int {
	first := time.Time{}
	for rt := range l.timed {
		if d := rt.deadline(); !d.IsZero() && (first.IsZero() || d.Before(first)) {
			first = d
		}
	}
	if first.IsZero() {
		return -1
	}
	return int(max(first.Sub(now)+time.Millisecond-1, 0) / time.Millisecond)
}

// expire ends the tunnels whose deadline has passed.
func (l *rawLoop) expire(now time.Time) {
	for rt := range l.timed {
		if d := rt.deadline(); d.IsZero() {
			delete(l.timed, rt)
		} else if !now.Before(d) {
			rt.end()
		}
	}
}

// deadline returns the first of rt's deadlines: a pending write's send timeout, the close's
// grace for the Close frame, the end of the wait for the answer. Zero for none.
func (rt *rawTunnel) deadline() time.Time {
	var first time.Time
	earliest := func(d time.Time) {
		if !d.IsZero() && (first.IsZero() || d.Before(first)) {
			first = d
		}
	}
	earliest(rt.sendBy[client])
	earliest(rt.sendBy[backend])
	switch rt.step {
	case toBoundary, sending:
		earliest(rt.graceEnd)
	case awaiting:
		earliest(rt.answerEnd)
	case notClosing:
	}
	return first
}

// timed makes rt's loop watch its deadlines.
func (rt *rawTunnel) timed() { rt.l.timed[rt] = struct{}{} }

// pump forwards what socket i has to the other one until a read does not fill the buffer, a
// write is left pending, or the tunnel ends; after fairRun full buffers it goes on later.
func (rt *rawTunnel) pump(i int) {
	pool := rt.t.opts.Pool
	for run := 0; !rt.done && rt.pending[i] == nil && rt.reads(i); run++ {
		if run == fairRun {
			rt.l.again = append(rt.l.again, direct{rt, i})
			return
		}
		buf := pool.Get()
		n, err := readRaw(rt.fd[i], buf)
		switch {
		case errors.Is(err, syscall.EAGAIN):
		case err != nil || n == 0:
			rt.sourceEnded(i)
		default:
			rt.forward(i, buf[:n])
		}
		pool.Put(buf)
		if err != nil || n < len(buf) {
			return
		}
	}
}

// reads reports whether the direction from socket i goes on reading: the backend is not read
// once the Close frame is on its way, the client not once it has ended during a close.
func (rt *rawTunnel) reads(i int) bool {
	if i == backend {
		return rt.step < sending
	}
	return !rt.answered || rt.step == notClosing
}

// sourceEnded handles the end of socket i's stream (or its failure): the end of the tunnel,
// except for the client during a close, whose end is its answer.
func (rt *rawTunnel) sourceEnded(i int) {
	if i == client && rt.step != notClosing {
		rt.answer()
		return
	}
	rt.end()
}

// forward passes data read from socket i on to the other socket, following the frames.
func (rt *rawTunnel) forward(i int, data []byte) {
	ws := rt.t.opts.WebSocket
	if i == client {
		closes := ws && sawClose(rt.tr[client], data)
		if rt.write(client, data) && closes {
			if rt.pending[client] != nil {
				rt.answerPending = true
			} else {
				rt.answer()
			}
		}
		return
	}
	switch {
	case !ws:
	case rt.step != notClosing:
		n, _ := rt.tr[backend].Advance(data)
		data = data[:n]
	default:
		rt.tr[backend].Skip(data)
	}
	if rt.write(backend, data) {
		rt.closeAtBoundary()
	}
}

// write writes data, read from socket i, to the other socket, keeping in pending what does not
// fit, and reports whether the tunnel goes on. A write that fails ends the tunnel.
func (rt *rawTunnel) write(i int, data []byte) bool {
	n, err := writeRaw(rt.fd[1-i], data)
	switch {
	case n == len(data):
		return true
	case err != nil && !errors.Is(err, syscall.EAGAIN):
		rt.end()
		return false
	}
	if o := 1 - i; !rt.out[o] {
		// Re-registering also reports the socket writable if it became so meanwhile.
		if !rt.register(o, syscall.EPOLL_CTL_MOD, rawEvents|syscall.EPOLLOUT) {
			rt.end()
			return false
		}
		rt.out[o] = true
	}
	rt.pending[i] = append(rt.t.opts.Pool.Get()[:0], data[n:]...)
	if st := rt.t.opts.SendTimeout; st > 0 {
		rt.sendBy[i] = time.Now().Add(st)
		rt.timed()
	}
	return true
}

// flush writes what is pending from socket i now that the other socket is writable, and once
// all is written goes on with the direction.
func (rt *rawTunnel) flush(i int) {
	data := rt.pending[i]
	n, err := writeRaw(rt.fd[1-i], data)
	switch {
	case n == len(data):
	case err != nil && !errors.Is(err, syscall.EAGAIN):
		rt.end()
		return
	default:
		rt.pending[i] = data[:copy(data, data[n:])]
		return
	}
	rt.t.opts.Pool.Put(data)
	rt.pending[i], rt.sendBy[i] = nil, time.Time{}
	switch {
	case i == client && rt.answerPending:
		rt.answerPending = false
		rt.answer()
	case i == backend && rt.step == sending:
		rt.frameWritten()
	case i == backend:
		rt.closeAtBoundary()
	}
	rt.pump(i) // what arrived meanwhile raised no new edge
}

// startClose begins a graceful close: see Tunnel.Close. Only the first has an effect.
func (rt *rawTunnel) startClose(code uint16, reason string) {
	if rt.step != notClosing {
		return
	}
	now := time.Now()
	rt.step = toBoundary
	rt.frame = wsframe.CloseFrame(code, reason)
	rt.graceEnd = now.Add(rt.t.opts.CloseGrace)
	rt.answerEnd = now.Add(2 * rt.t.opts.CloseGrace)
	rt.timed()
	rt.closeAtBoundary()
}

// closeAtBoundary sends the Close frame once a close is asked for, the backend's frames are at
// a boundary and nothing is pending to the client. A tunnel whose frames cannot be followed
// ends instead.
func (rt *rawTunnel) closeAtBoundary() {
	tr := rt.tr[backend]
	switch {
	case rt.step != toBoundary || rt.pending[backend] != nil:
	case !rt.t.opts.WebSocket || tr.Err() != nil:
		rt.end()
	case tr.AtBoundary():
		rt.step = sending
		if rt.write(backend, rt.frame) && rt.pending[backend] == nil {
			rt.frameWritten()
		}
	}
}

// frameWritten waits for the client's answer, for a grace, within two graces of Close.
func (rt *rawTunnel) frameWritten() {
	rt.step = awaiting
	if end := time.Now().Add(rt.t.opts.CloseGrace); end.Before(rt.answerEnd) {
		rt.answerEnd = end
	}
	if rt.answered {
		rt.end()
	}
}

// answer records the client's answer to a close (its Close frame forwarded, or its end), and
// ends the tunnel if the Close frame is written.
func (rt *rawTunnel) answer() {
	rt.answered = true
	if rt.step == awaiting {
		rt.end()
	}
}

// loopStopped ends rt: its loop stopped.
func (rt *rawTunnel) loopStopped() { rt.end() }

// end closes both sockets, once, and calls done on a goroutine of its own.
func (rt *rawTunnel) end() {
	if rt.done {
		return
	}
	rt.done = true
	for i, fd := range rt.fd {
		_ = syscall.Close(fd) // also takes it out of the epoll instance
		if rt.pending[i] != nil {
			rt.t.opts.Pool.Put(rt.pending[i])
			rt.pending[i] = nil
		}
	}
	l := rt.l
	l.mu.Lock()
	delete(l.entries, rt.key)
	l.mu.Unlock()
	delete(l.timed, rt)
	if done := rt.t.onDone; done != nil {
		go done()
	}
}

// readRaw reads from the non-blocking socket fd, with recvfrom(2): on a socket it does what
// read(2) does without the file layer's work (the file position's lock among it). It is not a
// raw system call (RawSyscall), though the socket never makes it wait for data: the kernel
// may still put the thread to sleep for the socket's lock, and a raw call would keep its Go
// processor meanwhile. With raw calls, the benchmark's step of 100,000 idle WebSockets
// (figure 4), run alone, lost a connection (a handshake unanswered in 5 s) in 4 of 14
// repetitions, and in none of 12 without them. Within a full make bench, after its other
// steps, a repetition now and then still loses one, through nginx's instances as through the
// gateway's (see benchmarks.md).
func readRaw(fd int, buf []byte) (int, error) {
	for {
		n, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, uintptr(fd),
			uintptr(unsafe.Pointer(unsafe.SliceData(buf))), uintptr(len(buf)), 0, 0, 0)
		switch errno {
		case 0:
			return int(n), nil
		case syscall.EINTR:
		default:
			return 0, errno
		}
	}
}

// writeRaw writes data to the non-blocking socket fd until all is written, the socket's
// buffer is full (EAGAIN) or a write fails, and returns how much it wrote. It uses sendto(2)
// as readRaw uses recvfrom(2), with MSG_NOSIGNAL: a write to a socket the peer has closed
// fails with EPIPE rather than raising SIGPIPE.
func writeRaw(fd int, data []byte) (int, error) {
	n := 0
	for n < len(data) {
		rest := data[n:]
		m, _, errno := syscall.Syscall6(syscall.SYS_SENDTO, uintptr(fd),
			uintptr(unsafe.Pointer(unsafe.SliceData(rest))), uintptr(len(rest)), syscall.MSG_NOSIGNAL, 0, 0)
		switch errno {
		case 0:
			n += int(m)
		case syscall.EINTR:
		default:
			return n, errno
		}
	}
	return n, nil
}

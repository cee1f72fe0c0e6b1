package tunnel

import (
	"maps"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// poller waits, with an epoll instance of its own, until the sources of parked directions are
// readable, and resumes them. See the package documentation for how it shares sockets with
// Go's netpoller.
type poller struct {
	epfd   int
	file   *os.File        // epfd, registered in Go's netpoller; keeps epfd open
	rc     syscall.RawConn // file's
	events [128]syscall.EpollEvent

	mu     sync.Mutex
	parked map[uint64]*direction // registered directions by key, parked or not
	last   uint64                // the last key given
	broken bool                  // the loop has stopped: park nothing more here
}

// parkSpot is where a direction parks: its poller and its key there.
type parkSpot struct {
	p     *poller // nil when the direction cannot park
	key   uint64  // set once, by register
	added bool    // its source is in the poller's epoll instance (or being added); guarded by t.mu
}

// resume runs d, which its poller found readable, if it is still parked.
func (d *direction) resume() {
	t := d.t
	t.mu.Lock()
	wake := t.unpark(d)
	t.mu.Unlock()
	if wake {
		go t.run(d, true)
	}
}

// armEvents are the events a parked direction waits for: its source is readable, or the peer
// has shut down its side (EPOLLERR and EPOLLHUP are always reported), once.
const armEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

// pollers are the package's pollers, started on first use: a few, so that one goroutine does
// not have to resume every tunnel of a busy gateway.
var pollers struct {
	once sync.Once
	all  []*poller
	next atomic.Uint32
}

// pickPoller returns a poller for a new tunnel, or nil if none could be started.
func pickPoller() *poller {
	pollers.once.Do(func() {
		for range min(runtime.GOMAXPROCS(0), 4) {
			p, err := newPoller()
			if err != nil {
				break // the tunnels do without, or with fewer
			}
			pollers.all = append(pollers.all, p)
			go p.loop()
		}
	})
	if len(pollers.all) == 0 {
		return nil
	}
	return pollers.all[pollers.next.Add(1)%uint32(len(pollers.all))]
}

func newPoller() (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		_ = syscall.Close(epfd)
		return nil, os.NewSyscallError("setnonblock", err)
	}
	// A non-blocking descriptor is registered in Go's netpoller; deadlines work only if it is.
	file := os.NewFile(uintptr(epfd), "tunnel-epoll")
	if err := file.SetReadDeadline(time.Time{}); err != nil {
		_ = file.Close()
		return nil, err
	}
	rc, err := file.SyscallConn()
	if err != nil {
		_ = file.Close()
		return nil, err
	}
	return &poller{epfd: epfd, file: file, rc: rc, parked: map[uint64]*direction{}}, nil
}

// loop resumes directions as their sources become readable, waiting on Go's netpoller while
// none is. It runs for the life of the process. Should epoll ever fail (it does not, short of
// a bug), the directions parked here are resumed, and run on goroutines of their own from
// then on: park sets a direction's state before arming it, so none is left behind.
func (p *poller) loop() {
	_ = p.rc.Read(func(fd uintptr) bool {
		for {
			n, err := syscall.EpollWait(int(fd), p.events[:], 0)
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				return true
			}
			for _, ev := range p.events[:n] {
				p.resume(eventKey(ev))
			}
			if n < len(p.events) {
				return false // wait for more: Go's netpoller reports epfd readable
			}
		}
	})
	p.mu.Lock()
	p.broken = true
	all := slices.Collect(maps.Values(p.parked))
	p.mu.Unlock()
	for _, d := range all {
		d.resume()
	}
}

// resume resumes the direction registered under key, if any.
func (p *poller) resume(key uint64) {
	p.mu.Lock()
	d := p.parked[key]
	p.mu.Unlock()
	if d != nil {
		d.resume()
	}
}

// register gives d a key and makes p know it. Start calls it before d can run.
func (p *poller) register(d *direction) {
	p.mu.Lock()
	p.last++
	d.key = p.last
	p.parked[d.key] = d
	p.mu.Unlock()
}

// arm makes p resume d once its source is readable, and reports success. It adds the source
// to the epoll instance (add, the first time) or re-arms it: one epoll_ctl each time. A
// direction whose arming failed does not park again (park), so add is never wrong.
func (p *poller) arm(d *direction, add bool) bool {
	p.mu.Lock()
	broken := p.broken
	p.mu.Unlock()
	if broken {
		return false
	}
	ev := keyedEvent(armEvents, d.key)
	op := syscall.EPOLL_CTL_MOD
	if add {
		op = syscall.EPOLL_CTL_ADD
	}
	var err error
	cerr := d.src.Control(func(fd uintptr) { err = syscall.EpollCtl(p.epfd, op, int(fd), &ev) })
	return cerr == nil && err == nil
}

// forget makes p forget d, which has ended or moved off p. p may be nil. Closing its source
// takes it out of the epoll instance.
func (p *poller) forget(d *direction) {
	if p == nil {
		return
	}
	p.mu.Lock()
	delete(p.parked, d.key)
	p.mu.Unlock()
}

// keyedEvent is an epoll event for events that carries key instead of a descriptor: its low
// half in Fd, its high half in Pad. Events carry keys so that an event about a descriptor
// closed and reused meanwhile finds nothing.
func keyedEvent(events uint32, key uint64) syscall.EpollEvent {
	return syscall.EpollEvent{Events: events, Fd: int32(uint32(key)), Pad: int32(uint32(key >> 32))}
}

// eventKey returns the key of an event made by keyedEvent.
func eventKey(ev syscall.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// Package epoll is the part of an event loop that talks to the kernel: an epoll instance whose
// registrations carry a 64-bit key, and an eventfd that wakes its wait from other goroutines.
// The gateway's HTTP event loops run on it; what a loop does with the events is theirs.
package epoll

import (
	"errors"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Events a socket is registered for: readable, writable and the peer's shutdown, reported
// edge-triggered (EPOLLERR and EPOLLHUP are always reported).
const (
	In    = unix.EPOLLIN
	Out   = unix.EPOLLOUT
	RDHup = unix.EPOLLRDHUP
	Hup   = unix.EPOLLHUP
	Err   = unix.EPOLLERR
	Edge  = unix.EPOLLET
)

// Event is one readiness report: the registration's key and the events.
type Event struct {
	Key    uint64
	Events uint32
}

// Poller is an epoll instance and its wake-up eventfd. Wait and Park are for one goroutine
// at a time; Add, Delete and Wake may be called from any.
//
// Park waits in Go's netpoller, on the epoll instance's own descriptor (readable while events
// are ready), rather than in epoll_wait: a goroutine blocked in a system call keeps its Go
// processor until the runtime's monitor takes it back, which takes up to 10 ms in a quiet
// process, and meanwhile every goroutine that wakes waits for a processor. With two
// processors, two such loops (the tunnels' and the HTTP path's) would hold both.
type Poller struct {
	epfd, wakefd int
	file         *os.File        // epfd, on Go's netpoller
	rc           syscall.RawConn // the file's
	deadline     time.Time       // the file's read deadline, as last set
	raw          [128]unix.EpollEvent
	events       [128]Event
}

// wakeKey is the key of the eventfd; Add refuses it.
const wakeKey = ^uint64(0)

// New returns a Poller; Close releases it.
func New() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	p := &Poller{epfd: epfd, wakefd: wakefd}
	if err := p.ctl(unix.EPOLL_CTL_ADD, wakefd, unix.EPOLLIN, wakeKey); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(wakefd)
		return nil, err
	}
	// Non-blocking, so that os.NewFile puts it on Go's netpoller.
	if err := unix.SetNonblock(epfd, true); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(wakefd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	p.file = os.NewFile(uintptr(epfd), "epoll")
	var err2 error
	if p.rc, err2 = p.file.SyscallConn(); err2 != nil {
		p.Close()
		return nil, err2
	}
	return p, nil
}

// Close closes the epoll instance and the eventfd.
func (p *Poller) Close() {
	_ = p.file.Close()
	_ = unix.Close(p.wakefd)
}

// Add registers fd for events, reported with key.
func (p *Poller) Add(fd int, events uint32, key uint64) error {
	if key == wakeKey {
		return errors.New("epoll: the key is reserved")
	}
	return p.ctl(unix.EPOLL_CTL_ADD, fd, events, key)
}

// Delete unregisters fd. Closing a descriptor that no other process shares unregisters it as
// well; Delete is for one that lives on elsewhere.
func (p *Poller) Delete(fd int) error { return p.ctl(unix.EPOLL_CTL_DEL, fd, 0, 0) }

func (p *Poller) ctl(op, fd int, events uint32, key uint64) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(key), Pad: int32(key >> 32)}
	if err := unix.EpollCtl(p.epfd, op, fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// Wake makes the current or next Wait return, with woken set.
func (p *Poller) Wake() {
	var one = [8]byte{1}
	_, _ = unix.Write(p.wakefd, one[:]) // EAGAIN: a wake-up is pending already
}

// Wait waits in epoll_wait up to msec milliseconds (0: not at all) for events, and returns
// them, valid until the next Wait or Park, and whether Wake was called since. The goroutine
// keeps its Go processor meanwhile: for short waits only.
func (p *Poller) Wait(msec int) (events []Event, woken bool, err error) {
	n, err := unix.EpollWait(p.epfd, p.raw[:], msec)
	if err != nil {
		if errors.Is(err, unix.EINTR) {
			return nil, false, nil
		}
		return nil, false, os.NewSyscallError("epoll_wait", err)
	}
	return p.take(n)
}

// Park waits until events are ready, or at most about tick (0: no limit), and returns them as
// Wait does. The goroutine parks in Go's netpoller meanwhile. The limit is a deadline set
// anew only once the last one passed, so that a loop that parks often sets no timer each time:
// a park may end up to a tick early.
func (p *Poller) Park(tick time.Duration) (events []Event, woken bool, err error) {
	var until time.Time
	if tick > 0 {
		if until = p.deadline; until.IsZero() || !time.Now().Before(until) {
			until = time.Now().Add(tick)
		}
	}
	if !until.Equal(p.deadline) {
		if err := p.file.SetReadDeadline(until); err != nil {
			return nil, false, err
		}
		p.deadline = until
	}
	n := 0
	var werr error
	err = p.rc.Read(func(fd uintptr) bool {
		n, werr = unix.EpollWait(int(fd), p.raw[:], 0)
		return n > 0 || werr != nil && !errors.Is(werr, unix.EINTR)
	})
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, false, nil
	case err != nil:
		return nil, false, err
	case werr != nil:
		return nil, false, os.NewSyscallError("epoll_wait", werr)
	}
	return p.take(n)
}

// take returns the first n raw events as Events, and whether the eventfd was among them
// (which it resets).
func (p *Poller) take(n int) (events []Event, woken bool, err error) {
	events = p.events[:0]
	for _, ev := range p.raw[:n] {
		key := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
		if key == wakeKey {
			var b [8]byte
			_, _ = unix.Read(p.wakefd, b[:])
			woken = true
			continue
		}
		events = append(events, Event{Key: key, Events: ev.Events})
	}
	return events, woken, nil
}

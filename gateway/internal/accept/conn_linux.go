package accept

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stablering/stablering/gateway/internal/sockopt"
	"golang.org/x/sys/unix"
)

// Conn is an accepted connection. Until its first wait it is a bare non-blocking socket, read
// and written with system calls of its own; from then on it is an *os.File on Go's netpoller,
// which every method uses. It is safe for concurrent use, as a net.Conn is: a system call on
// the bare socket holds mu shared, so Close (which holds it alone) cannot close the descriptor,
// and let it be reused, under the call.
type Conn struct {
	local  *net.TCPAddr // nil when the listener is bound to every address
	remote *net.TCPAddr

	file atomic.Pointer[os.File] // set once the socket entered Go's netpoller
	frc  syscall.RawConn         // the file's raw connection, set before file

	mu       sync.RWMutex
	fd       int  // the bare socket; -1 once closed, released or in the file
	released bool // ReleaseSocket gave the socket away
	// rd and wd are the deadlines set while bare, in Unix nanoseconds (0 for none), set
	// under mu; they pass to the file when it is made.
	rd, wd atomic.Int64
}

func newConn(fd int, listener, remote *net.TCPAddr) *Conn {
	c := &Conn{fd: fd, remote: remote}
	if listener != nil && !listener.IP.IsUnspecified() {
		c.local = listener
	}
	return c
}

// Read reads from the bare socket while it has data, and from the file afterwards.
func (c *Conn) Read(p []byte) (int, error) {
	fd, f := c.bare()
	switch {
	case fd < 0:
		return c.fileIO("read", f, p, (*os.File).Read)
	case passed(&c.rd):
		c.mu.RUnlock()
		return 0, c.opError("read", os.ErrDeadlineExceeded)
	}
	n, err := ignoringEINTR(func() (int, error) { return syscall.Read(fd, p) })
	c.mu.RUnlock()
	switch {
	case errors.Is(err, syscall.EAGAIN):
	case err != nil:
		return 0, c.opError("read", os.NewSyscallError("read", err))
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	default:
		return n, nil
	}
	f, err = c.poll("read")
	if err != nil {
		return 0, err
	}
	n, err = f.Read(p)
	return n, c.fileError("read", err)
}

// ReadNow reads from the bare socket without waiting: syscall.EAGAIN when there is nothing to
// read yet, io.EOF at the end of the stream, ErrNotBare when there is no bare socket.
func (c *Conn) ReadNow(p []byte) (int, error) {
	fd, _ := c.bare()
	if fd < 0 {
		return 0, ErrNotBare
	}
	n, err := ignoringEINTR(func() (int, error) { return syscall.Read(fd, p) })
	c.mu.RUnlock()
	switch {
	case errors.Is(err, syscall.EAGAIN):
		return 0, syscall.EAGAIN
	case err != nil:
		return 0, c.opError("read", os.NewSyscallError("read", err))
	case n == 0 && len(p) > 0:
		return 0, io.EOF
	}
	return n, nil
}

// Write writes to the bare socket what its send buffer takes, and the rest through the file.
func (c *Conn) Write(p []byte) (int, error) {
	fd, f := c.bare()
	switch {
	case fd < 0:
		return c.fileIO("write", f, p, (*os.File).Write)
	case passed(&c.wd):
		c.mu.RUnlock()
		return 0, c.opError("write", os.ErrDeadlineExceeded)
	}
	n, err := sockopt.Send(fd, p)
	c.mu.RUnlock()
	switch {
	case errors.Is(err, syscall.EAGAIN):
		n = 0
	case err != nil:
		return 0, c.opError("write", os.NewSyscallError("write", err))
	case n == len(p):
		return n, nil
	}
	f, err = c.poll("write")
	if err != nil {
		return n, err
	}
	m, err := f.Write(p[n:])
	return n + m, c.fileError("write", err)
}

// bare returns the bare socket with mu held shared, for the caller to unlock; or, with mu not
// held, fd -1 and the file the socket entered, nil once the Conn is closed or released.
func (c *Conn) bare() (fd int, f *os.File) {
	if f := c.file.Load(); f != nil {
		return -1, f
	}
	c.mu.RLock()
	if c.fd >= 0 {
		return c.fd, nil
	}
	c.mu.RUnlock()
	return -1, c.file.Load()
}

// fileIO does a read or write on the file f, or fails as on a closed connection when f is nil.
func (c *Conn) fileIO(op string, f *os.File, p []byte, do func(*os.File, []byte) (int, error)) (int, error) {
	if f == nil {
		return 0, c.opError(op, net.ErrClosed)
	}
	n, err := do(f, p)
	return n, c.fileError(op, err)
}

// poll puts the bare socket into Go's netpoller, as an *os.File with the deadlines set so far,
// and returns the file; the file already made if another call made it. op names the call
// that has to wait, for its errors.
func (c *Conn) poll(op string) (*os.File, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := c.file.Load(); f != nil {
		return f, nil
	}
	if c.fd < 0 {
		return nil, c.opError(op, net.ErrClosed)
	}
	// NewFile registers a non-blocking descriptor with the netpoller; one it could not
	// register would take no deadline, which is how a failure shows.
	f := os.NewFile(uintptr(c.fd), "")
	if err := f.SetDeadline(time.Time{}); err != nil {
		_ = f.Close()
		c.fd = -1
		return nil, c.opError(op, err)
	}
	for _, d := range []struct {
		at  *atomic.Int64
		set func(time.Time) error
	}{{&c.rd, f.SetReadDeadline}, {&c.wd, f.SetWriteDeadline}} {
		if ns := d.at.Load(); ns != 0 {
			_ = d.set(time.Unix(0, ns))
		}
	}
	frc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		c.fd = -1
		return nil, c.opError(op, err)
	}
	c.frc, c.fd = frc, -1
	c.file.Store(f)
	return f, nil
}

// Close closes the connection; after ReleaseSocket it does nothing.
func (c *Conn) Close() error {
	if f := c.file.Load(); f != nil {
		return c.fileError("close", f.Close())
	}
	c.mu.Lock()
	if f := c.file.Load(); f != nil { // made since
		c.mu.Unlock()
		return c.fileError("close", f.Close())
	}
	fd, released := c.fd, c.released
	c.fd = -1
	c.mu.Unlock()
	switch {
	case fd >= 0:
		return c.syscallError("close", syscall.Close(fd))
	case released:
		return nil
	}
	return c.opError("close", net.ErrClosed)
}

// ReleaseSocket gives the bare socket to the caller, who closes it, and reports whether it
// could: not once the socket is in Go's netpoller (the caller duplicates it then) or closed.
// The Conn is closed afterwards, its Close a no-op.
func (c *Conn) ReleaseSocket() (fd int, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fd < 0 {
		return -1, false
	}
	fd, c.fd, c.released = c.fd, -1, true
	return fd, true
}

// ReclaimSocket takes back a socket that ReleaseSocket gave away, still open and still bare
// (never in Go's netpoller): the Conn is open again, without deadlines, as if it had never
// been released. The gateway's HTTP event loops borrow idle connections this way, and give
// back those whose next request they do not serve themselves.
func (c *Conn) ReclaimSocket(fd int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fd, c.released = fd, false
	c.rd.Store(0)
	c.wd.Store(0)
}

// CloseWrite shuts the sending side down, as *net.TCPConn's does.
func (c *Conn) CloseWrite() error {
	var err error
	if cerr := (rawConn{c}).Control(func(fd uintptr) {
		err = syscall.Shutdown(int(fd), syscall.SHUT_WR)
	}); cerr != nil {
		return cerr
	}
	return c.syscallError("shutdown", err)
}

// LocalAddr is the listener's address, or, when the listener is bound to every address, the
// socket's, asked of the kernel (net/http asks once per connection it serves).
func (c *Conn) LocalAddr() net.Addr {
	if c.local != nil {
		return c.local
	}
	var sa syscall.Sockaddr
	_ = (rawConn{c}).Control(func(fd uintptr) { sa, _ = syscall.Getsockname(int(fd)) })
	return tcpAddr(sa)
}

// RemoteAddr is the client's address.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	return errors.Join(c.SetReadDeadline(t), c.SetWriteDeadline(t))
}

// SetReadDeadline sets the read deadline.
func (c *Conn) SetReadDeadline(t time.Time) error {
	return c.setDeadline(&c.rd, t, (*os.File).SetReadDeadline)
}

// SetWriteDeadline sets the write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	return c.setDeadline(&c.wd, t, (*os.File).SetWriteDeadline)
}

// setDeadline keeps a deadline for the file to come (under mu, so that poll sees it), or sets
// it on the file.
func (c *Conn) setDeadline(at *atomic.Int64, t time.Time, set func(*os.File, time.Time) error) error {
	if f := c.file.Load(); f != nil {
		return c.fileError("set deadline", set(f, t))
	}
	c.mu.Lock()
	if f := c.file.Load(); f != nil {
		c.mu.Unlock()
		return c.fileError("set deadline", set(f, t))
	}
	var ns int64
	if !t.IsZero() {
		ns = t.UnixNano()
	}
	at.Store(ns)
	c.mu.Unlock()
	return nil
}

// passed reports whether the deadline at has passed; it reads the clock only when one is set.
func passed(at *atomic.Int64) bool {
	ns := at.Load()
	return ns != 0 && time.Now().UnixNano() >= ns
}

// SyscallConn returns the connection's raw connection: the bare socket's, then the file's.
func (c *Conn) SyscallConn() (syscall.RawConn, error) { return rawConn{c}, nil }

func ignoringEINTR(call func() (int, error)) (int, error) {
	for {
		n, err := call()
		if !errors.Is(err, syscall.EINTR) {
			return n, err
		}
	}
}

func (c *Conn) opError(op string, err error) error {
	e := &net.OpError{Op: op, Net: "tcp", Addr: c.remote, Err: err}
	if c.local != nil {
		e.Source = c.local
	}
	return e
}

func (c *Conn) syscallError(call string, err error) error {
	if err == nil {
		return nil
	}
	return c.opError(call, os.NewSyscallError(call, err))
}

// fileError gives an error of the file the form of the net package's: a *net.OpError, or
// io.EOF.
func (c *Conn) fileError(op string, err error) error {
	if err == nil || errors.Is(err, io.EOF) {
		return err
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if errors.Is(err, os.ErrClosed) {
		err = net.ErrClosed
	}
	return c.opError(op, err)
}

// rawConn is a Conn's syscall.RawConn.
type rawConn struct{ c *Conn }

// Control calls f with the socket's descriptor.
func (r rawConn) Control(f func(fd uintptr)) error {
	c := r.c
	switch fd, file := c.bare(); {
	case fd >= 0:
		f(uintptr(fd))
		c.mu.RUnlock()
		return nil
	case file == nil:
		return net.ErrClosed
	}
	return rawError(c.frc.Control(f))
}

// Read calls f until it returns true, waiting for the socket to be readable in between.
func (r rawConn) Read(f func(fd uintptr) bool) error {
	return r.wait(f, unix.POLLIN, func(rc syscall.RawConn, f func(uintptr) bool) error { return rc.Read(f) })
}

// Write calls f until it returns true, waiting for the socket to be writable in between.
func (r rawConn) Write(f func(fd uintptr) bool) error {
	return r.wait(f, unix.POLLOUT, func(rc syscall.RawConn, f func(uintptr) bool) error { return rc.Write(f) })
}

// wait calls f on the bare socket once; if f asks to wait, the socket enters the netpoller,
// whose wait (rc.Read or rc.Write) comes before f is called again, unless the socket is ready
// for the event already. Go's raw calls forget the readiness the poller learned before they first
// call f, which may be the readiness f waits for, so the socket itself is asked (poll(2),
// without waiting) before f is called again or the wait starts.
func (r rawConn) wait(f func(fd uintptr) bool, event int16, on func(rc syscall.RawConn, f func(uintptr) bool) error) error {
	c := r.c
	switch fd, file := c.bare(); {
	case fd >= 0:
		done := f(uintptr(fd))
		c.mu.RUnlock()
		if done {
			return nil
		}
		if _, err := c.poll("wait"); err != nil {
			return err
		}
		call := f
		asked := false
		f = func(fd uintptr) bool {
			if !asked {
				asked = true
				if !ready(int(fd), event) {
					return false
				}
			}
			return call(fd)
		}
	case file == nil:
		return net.ErrClosed
	}
	return rawError(on(c.frc, f))
}

// ready reports whether the socket fd is ready for event, or has an error or an end, now.
func ready(fd int, event int16) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: event}}
	for {
		n, err := unix.Poll(fds, 0)
		if err != unix.EINTR {
			return n > 0 || err != nil
		}
	}
}

// rawError is the error of a file's raw connection as a net.Conn's would say it: the
// deadline's, or net.ErrClosed, the only other way its calls fail.
func rawError(err error) error {
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	return net.ErrClosed
}

package upstream

import (
	"bufio"
	"context"
	"errors"
	"net"
	"time"

	"github.com/stablering/stablering/gateway/peek"
)

// This file lends pooled connections to a caller that makes the exchange itself (the
// gateway's own HTTP/1.1 path): it writes the request head with Write, reads the answer
// through Reader, sets the deadlines, and gives the connection back with Put once the answer
// was read to its end, or closes it.

// Take returns an idle connection to the address, or a new one; reused says which. Its errors
// are those of the dialer (see Dialer).
func (u *Upstream) Take(ctx context.Context) (*Conn, bool, error) { return u.conn(ctx, true) }

// Redial returns a new connection to the address, for a request that found its pooled
// connection closed by the member before the member saw it.
func (u *Upstream) Redial(ctx context.Context) (*Conn, error) {
	mc, err := u.dialConn(ctx)
	if mc != nil {
		mc.lent = true
	}
	return mc, err
}

// DialUpgrade connects to the address for a protocol switch: a lent connection that reads
// through br (reset onto it) and never goes back to the pool. Once the protocol switched, its
// connection is the caller's (NetConn).
func (u *Upstream) DialUpgrade(ctx context.Context, br *bufio.Reader) (*Conn, error) {
	dial := u.dial
	if u.opts.DialUpgrade != nil {
		dial = u.opts.DialUpgrade
	}
	c, err := dial(ctx, "tcp", u.address)
	if err != nil {
		return nil, err
	}
	mc := &Conn{lent: true, conn: c, waiter: newWaiter(c), br: br}
	br.Reset(mc)
	return mc, nil
}

// NetConn is the connection beneath.
func (mc *Conn) NetConn() net.Conn { return mc.conn }

// Put gives a lent connection back to the pool; one with unread bytes is closed instead.
func (u *Upstream) Put(mc *Conn) {
	if mc.br.Buffered() != 0 {
		_ = mc.conn.Close()
		return
	}
	u.putIdle(mc)
}

// Close closes the connection.
func (mc *Conn) Close() { _ = mc.conn.Close() }

// Reader is the connection's buffered reader.
func (mc *Conn) Reader() *bufio.Reader { return mc.br }

// Write writes p to the member. The connection's write buffer is not used.
func (mc *Conn) Write(p []byte) (int, error) { return mc.conn.Write(p) }

// WriteThenWait writes what it can of p without blocking and waits for the member to answer,
// within the read deadline; it returns how much it wrote, and the caller writes the rest.
// On a connection of Go's net package it first proves the connection clean (errNotClean if
// the member sent anything since the last answer, and nothing is written); where it cannot
// wait, it writes nothing and returns at once.
func (mc *Conn) WriteThenWait(p []byte) (int, error) {
	if mc.waiter == nil {
		return 0, nil
	}
	return mc.waiter.WriteThenWait(p)
}

// SetReadDeadline sets the read deadline; the pool clears it when the connection is taken
// again after it passed.
func (mc *Conn) SetReadDeadline(t time.Time) {
	mc.readUntil = t
	_ = mc.conn.SetReadDeadline(t)
}

// SetWriteDeadline sets the write deadline.
func (mc *Conn) SetWriteDeadline(t time.Time) { _ = mc.conn.SetWriteDeadline(t) }

// waiter writes a request and waits for the answer without reading it: a tunnel.Conn, whose
// loop keeps a readiness report until a wait takes it, or a cleanSender.
type waiter interface {
	WriteThenWait(p []byte) (int, error)
}

// newWaiter returns c's waiter, nil if it has none.
func newWaiter(c net.Conn) waiter {
	if w, ok := c.(waiter); ok {
		return w
	}
	if s := peek.NewSender(c); s != nil {
		return cleanSender{s}
	}
	return nil
}

// sendChecks reports whether the connection's WriteThenWait proves it clean before it writes
// (a cleanSender).
func (mc *Conn) sendChecks() bool {
	_, ok := mc.waiter.(cleanSender)
	return ok
}

// errNotClean is the error of a request not sent because the member had sent bytes since its
// last answer; the connection is closed, and the request sent on a new one.
var errNotClean = errors.New("the member sent bytes before the request")

// cleanSender is the waiter of a connection of Go's net package (peek.Sender).
type cleanSender struct{ s *peek.Sender }

func (w cleanSender) WriteThenWait(p []byte) (int, error) {
	n, clean, err := w.s.SendIfClean(p)
	if !clean {
		return 0, errNotClean
	}
	return n, err
}

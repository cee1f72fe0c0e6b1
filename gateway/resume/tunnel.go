// Package resume keeps a client's WebSocket open while the member behind it restarts as
// planned, and splices it to the restarted member: the gateway's side of
// spec.connections.resume.
//
// A [Tunnel] relays frames one at a time, so it always knows where messages begin and end in
// both directions. Detach lets go of the member at a message boundary: the frames from the
// client go to the member until its message in flight ends, then the member gets a Close
// frame, and the frames from the member go on to the client until the member's answering
// Close (or the close grace). From then on the client's frames are held, within the
// connection's bounds and the gateway's Budget, and its pings are answered. Reattach opens the
// WebSocket to the restarted member again (Options.Redial: the original handshake plus the
// resume headers, see Request), sends the held frames and splices the two again. A try that
// does not reach the member, or gets no answer in time, leaves the client held for the next
// Reattach to try again, within the hold's bound: a restarted member that is slow to take
// its first connections costs the client nothing.
//
// Whenever the tunnel cannot keep that promise (a message cut in the middle, bounds exceeded,
// held too long, the member refuses or negotiates otherwise) it closes the client with 1012,
// as a gateway without resume would have: the client reconnects, and no message is ever
// delivered twice or out of order.
//
// A Tunnel costs more than package tunnel's: two goroutines for its life (a third while it
// resumes) and a 4 KiB read buffer on each side. Only rings with resume on use it.
package resume

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/stablering/stablering/gateway/wsframe"
)

// Reasons a resume fails, the label of the failure metric.
const (
	ReasonBuffer     = "buffer"      // the client sent more than the connection's bound
	ReasonBudget     = "budget"      // the gateway's budget was spent
	ReasonTimeout    = "timeout"     // held longer than the bound
	ReasonMidMessage = "mid-message" // the member side ended inside a message
	ReasonRefused    = "refused"     // the member answered the resume with another status than 101
	ReasonMismatch   = "mismatch"    // the member's 101 negotiated another protocol or extensions
	ReasonUnreached  = "unreached"   // no try reached the member within the bound, or the held frames could not be sent
)

// Refused is Redial's error for a member that answered with another status than 101.
type Refused struct{ Status int }

func (e *Refused) Error() string {
	return "member refused the resume: status " + strconv.Itoa(e.Status)
}

// ErrMismatch is Redial's error for a 101 that negotiated otherwise than the original.
var ErrMismatch = errors.New("member's answer to the resume negotiated another protocol or extensions")

// Options configure a Tunnel.
type Options struct {
	// MaxBytes bounds the bytes of client frames held while the member restarts.
	MaxBytes int
	// MaxHold bounds how long the client is held, from Detach until the member takes it again.
	MaxHold time.Duration
	// Budget bounds the bytes all the gateway's tunnels hold together.
	Budget *Budget
	// CloseGrace bounds each step of a close, and the member's answer to Detach's Close frame.
	CloseGrace time.Duration
	// SendTimeout bounds each write; 0 means none.
	SendTimeout time.Duration
	// Redial opens the WebSocket to the member again as a resume with counts, and returns the
	// connection and its reader (which may hold the member's first frames). Its errors are
	// *Refused, ErrMismatch, or why the member was not reached.
	Redial func(ctx context.Context, c Counts) (net.Conn, *bufio.Reader, error)
	// Resumed is called for each resume, with the time the client was held.
	Resumed func(held time.Duration)
	// Failed is called when a resume fails, with one of the Reason constants and, for a
	// resume the member refused or did not take (ReasonRefused, ReasonMismatch,
	// ReasonUnreached), the error that says why; nil otherwise.
	Failed func(reason string, err error)
}

// state is where a Tunnel is in a planned restart.
type state uint8

const (
	attached  state = iota // spliced to a member
	detaching              // letting go of the member at a message boundary
	detached               // holding the client while the member restarts
	resuming               // Redial in flight
)

// readerSize is the size of each side's read buffer.
const readerSize = 4 << 10

// Tunnel is a resumable WebSocket between a client and a member.
type Tunnel struct {
	opts   Options
	client net.Conn
	cr     *bufio.Reader
	onDone func()

	cw sync.Mutex // held while a frame is written to the client
	mw sync.Mutex // held while a frame is written to the member, or the member is replaced

	mu        sync.Mutex
	member    net.Conn      // nil while detached
	state     state         // where the tunnel is in a planned restart
	upOpen    bool          // a message from the client has begun and not ended
	downOpen  bool          // a message from the member has begun and not ended
	upCut     bool          // the client's frames are held, no longer sent to the member
	counts    Counts        // whole messages delivered
	held      []byte        // the client's frames held, as they came
	heldMsgs  uint64        // whole messages in held
	since     time.Time     // when Detach was called
	holdTimer *time.Timer   // ends a hold that lasts too long
	unreached error         // why the last resume did not reach the member, if it did not
	failed    bool          // a resume failed: the client is being closed
	closing   bool          // Close was called
	sentClose bool          // the client got a Close frame: nothing more goes to it
	shutDown  bool          // both connections are closed
	answered  chan struct{} // closed once the client sent its Close frame or ended
	hardStop  *time.Timer   // shuts the tunnel two graces after Close
	live      int           // goroutines running
	mr        *bufio.Reader // the first member's reader, for Start
}

// New returns a tunnel between client and member. clientEarly and memberEarly are what each
// side sent after the handshake, which the tunnel relays first.
func New(client net.Conn, clientEarly []byte, member net.Conn, memberEarly []byte, opts Options) *Tunnel {
	return &Tunnel{
		opts:     opts,
		client:   client,
		cr:       bufio.NewReaderSize(prefixed(clientEarly, client), readerSize),
		member:   member,
		mr:       bufio.NewReaderSize(prefixed(memberEarly, member), readerSize),
		answered: make(chan struct{}),
		live:     2,
	}
}

// prefixed reads early, then c.
func prefixed(early []byte, c net.Conn) io.Reader {
	if len(early) == 0 {
		return c
	}
	return io.MultiReader(bytes.NewReader(bytes.Clone(early)), c)
}

// Start runs the tunnel; done is called once, when both connections are closed and its
// goroutines have ended, on a goroutine of the tunnel.
func (t *Tunnel) Start(done func()) {
	t.onDone = done
	go t.up()
	go t.down(t.member, t.mr)
	t.mr = nil
}

// Detach lets go of the member at a message boundary and holds the client, for up to MaxHold.
// It returns at once; only a call on an attached tunnel has an effect.
func (t *Tunnel) Detach() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state != attached || t.closing || t.shutDown {
		return
	}
	t.state = detaching
	t.since = time.Now()
	t.holdTimer = time.AfterFunc(t.opts.MaxHold, t.holdEnded)
	member := t.member
	// The member answers the Close frame within the grace, or its side ends anyway: a read
	// deadline wakes the member's reader, which then decides at the boundary it reached.
	_ = member.SetReadDeadline(t.since.Add(t.opts.CloseGrace))
	go t.cutWhenIdle(member)
}

// cutWhenIdle sends the member its Close frame if the client is between messages; otherwise
// up sends it when the client's message ends.
func (t *Tunnel) cutWhenIdle(member net.Conn) {
	t.mw.Lock()
	defer t.mw.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state == detaching && t.member == member && !t.upOpen && !t.upCut {
		t.cut()
	}
}

// cut holds the client's frames from now on and sends the member a Close frame. Called with
// t.mw and t.mu.
func (t *Tunnel) cut() {
	t.upCut = true
	frame := maskedClose(wsframe.CloseGoingAway, "gateway resumes this connection elsewhere")
	_ = t.member.SetWriteDeadline(time.Now().Add(t.opts.CloseGrace))
	_, _ = t.member.Write(frame)
}

// Reattach opens the WebSocket to the member again and splices it, once the member serves
// again. It returns at once; only a call on a detached tunnel has an effect, and a try that
// does not reach the member leaves it detached (see again).
func (t *Tunnel) Reattach() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state != detached || t.closing || t.shutDown {
		return
	}
	t.state = resuming
	t.live++
	go t.resume(t.counts, t.since.Add(t.opts.MaxHold))
}

// Held reports whether the client waits for a member: Detach was called and no resume
// completed since.
func (t *Tunnel) Held() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state != attached
}

// resume redials the member and splices it; see Reattach.
func (t *Tunnel) resume(c Counts, deadline time.Time) {
	defer t.exit()
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	member, mr, err := t.opts.Redial(ctx, c)
	if err != nil {
		var refused *Refused
		switch {
		case errors.As(err, &refused):
			t.fail(ReasonRefused, err, resuming)
		case errors.Is(err, ErrMismatch):
			t.fail(ReasonMismatch, err, resuming)
		default:
			t.again(err)
		}
		return
	}
	t.mw.Lock()
	t.mu.Lock()
	if t.state != resuming || t.closing || t.shutDown {
		t.mu.Unlock()
		t.mw.Unlock()
		_ = member.Close()
		return
	}
	if err := t.writeTo(member, t.held); err != nil {
		t.mu.Unlock()
		t.mw.Unlock()
		_ = member.Close()
		t.fail(ReasonUnreached, err, resuming)
		return
	}
	t.opts.Budget.Give(len(t.held))
	t.counts.ToMember += t.heldMsgs
	t.held, t.heldMsgs = nil, 0
	t.member, t.upCut, t.state = member, false, attached
	t.holdTimer.Stop()
	held := time.Since(t.since)
	t.live++
	t.mu.Unlock()
	t.mw.Unlock()
	t.opts.Resumed(held)
	go t.down(member, mr)
}

// again lets a resume that did not reach the member, or whose answer did not come in time, be
// tried again: the tunnel is detached once more, and the next Reattach (the gateway calls it
// again while the member is Serving) tries again, until the hold's bound. Nothing was sent
// to either side, so the client loses nothing; err is what the bound reports if no try gets
// through.
func (t *Tunnel) again(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state == resuming {
		t.state, t.unreached = detached, err
	}
}

// holdEnded fails a hold that lasted MaxHold: unreached, with why, when the member was tried
// and not reached; timeout otherwise.
func (t *Tunnel) holdEnded() {
	t.mu.Lock()
	err := t.unreached
	t.mu.Unlock()
	if err != nil {
		t.fail(ReasonUnreached, err, detaching, detached, resuming)
		return
	}
	t.fail(ReasonTimeout, nil, detaching, detached, resuming)
}

// fail closes the client with 1012 after a failed resume, if the tunnel is in one of states;
// err is why, for Options.Failed.
func (t *Tunnel) fail(reason string, err error, states ...state) {
	t.mu.Lock()
	ok := !t.failed && !t.closing && !t.shutDown && slices.Contains(states, t.state)
	t.failed = t.failed || ok
	t.mu.Unlock()
	if ok {
		t.opts.Failed(reason, err)
		t.Close(wsframe.CloseServiceRestart, "member restarted; the connection could not be resumed")
	}
}

// Close closes the client with a Close frame of code and reason at a frame boundary, waits a
// grace for its answer, and closes both connections. It returns at once; only the first call
// has an effect.
func (t *Tunnel) Close(code uint16, reason string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing || t.shutDown {
		return
	}
	t.closing = true
	t.hardStop = time.AfterFunc(2*t.opts.CloseGrace, t.shut)
	t.live++
	go t.finishClose(wsframe.CloseFrame(code, reason))
}

// finishClose sends the Close frame once no frame is being written to the client, and waits
// a grace for the client's answer.
func (t *Tunnel) finishClose(frame []byte) {
	defer t.exit()
	t.cw.Lock()
	t.mu.Lock()
	t.sentClose = true
	t.mu.Unlock()
	err := t.writeTo(t.client, frame)
	t.cw.Unlock()
	if err == nil {
		timer := time.NewTimer(t.opts.CloseGrace)
		defer timer.Stop()
		select {
		case <-t.answered:
		case <-timer.C:
		}
	}
	t.shut()
}

// Kill closes both connections at once.
func (t *Tunnel) Kill() { t.shut() }

// shut closes both connections, once, and returns what the tunnel held to the budget.
func (t *Tunnel) shut() {
	t.mu.Lock()
	if t.shutDown {
		t.mu.Unlock()
		return
	}
	t.shutDown = true
	if t.holdTimer != nil {
		t.holdTimer.Stop()
	}
	if t.hardStop != nil {
		t.hardStop.Stop()
	}
	t.opts.Budget.Give(len(t.held))
	t.held = nil
	member := t.member
	t.mu.Unlock()
	_ = t.client.Close()
	if member != nil {
		_ = member.Close()
	}
}

// exit ends one of the tunnel's goroutines; the last one calls done.
func (t *Tunnel) exit() {
	t.mu.Lock()
	t.live--
	last := t.live == 0
	t.mu.Unlock()
	if last {
		t.shut()
		if t.onDone != nil {
			t.onDone()
		}
	}
}

// up relays the client's frames for the tunnel's life: to the member while attached, into
// held while the member restarts.
func (t *Tunnel) up() {
	defer t.exit()
	defer t.clientAnswered()
	for {
		h, err := readHeader(t.cr)
		if err != nil {
			t.shutUnlessClosing()
			return
		}
		if !t.upFrame(&h) {
			return
		}
	}
}

// upFrame relays one frame from the client, and reports whether up goes on.
func (t *Tunnel) upFrame(h *wsframe.Header) bool {
	t.mw.Lock()
	defer t.mw.Unlock()
	t.mu.Lock()
	cut, member := t.upCut, t.member
	t.mu.Unlock()
	if h.Op == wsframe.OpClose {
		t.clientAnswered()
	}
	if !cut {
		if err := t.relay(member, t.cr, h); err != nil {
			t.memberFailed(member)
			return t.closingOrFail()
		}
		t.mu.Lock()
		if h.IsData() {
			t.upOpen = !h.Fin
			if h.Fin {
				t.counts.ToMember++
			}
		}
		if t.state == detaching && !t.upOpen && !t.upCut && t.member == member {
			t.cut()
		}
		t.mu.Unlock()
		return true
	}
	return t.hold(h)
}

// hold keeps a client frame while the member restarts: data is held within the bounds, a ping
// is answered, a Close is answered and ends the tunnel. It reports whether up goes on.
func (t *Tunnel) hold(h *wsframe.Header) bool {
	frame, err := readFrame(t.cr, h)
	if err != nil {
		t.shutUnlessClosing()
		return false
	}
	switch h.Op {
	case wsframe.OpPing:
		return t.toClient(serverFrame(wsframe.OpPong, frame[h.Len:], h.Mask)) == nil
	case wsframe.OpPong:
		return true
	case wsframe.OpClose:
		t.Close(closeCode(frame[h.Len:], h.Mask), "")
		return false
	case wsframe.OpContinuation, wsframe.OpText, wsframe.OpBinary:
	}
	t.mu.Lock()
	switch {
	case len(t.held)+len(frame) > t.opts.MaxBytes:
		t.mu.Unlock()
		t.fail(ReasonBuffer, nil, detaching, detached, resuming)
		return false
	case !t.opts.Budget.Take(len(frame)):
		t.mu.Unlock()
		t.fail(ReasonBudget, nil, detaching, detached, resuming)
		return false
	}
	t.held = append(t.held, frame...)
	t.upOpen = !h.Fin
	if h.Fin {
		t.heldMsgs++
	}
	t.mu.Unlock()
	return true
}

// closingOrFail is what up does after a write to the member failed: while the member restarts
// a frame cut in the middle cannot be resumed.
func (t *Tunnel) closingOrFail() bool {
	t.fail(ReasonMidMessage, nil, detaching, resuming)
	t.shutUnlessClosing()
	return false
}

// memberFailed ends an attached tunnel whose member could not be written to.
func (t *Tunnel) memberFailed(member net.Conn) {
	t.mu.Lock()
	attachedTo := t.state == attached && t.member == member
	t.mu.Unlock()
	if attachedTo {
		t.shut()
	}
}

// down relays the frames of one member to the client until that member's side ends.
func (t *Tunnel) down(member net.Conn, mr *bufio.Reader) {
	defer t.exit()
	for {
		h, err := readHeader(mr)
		if err != nil {
			t.memberEnded(member)
			return
		}
		if h.Op == wsframe.OpClose && t.inState(detaching) {
			_, _ = mr.Discard(int(h.Length))
			t.memberEnded(member)
			return
		}
		if err := t.downFrame(mr, &h); err != nil {
			t.shut()
			return
		}
	}
}

// downFrame relays one frame from the member to the client, unless the client was sent a
// Close frame (then it is dropped).
func (t *Tunnel) downFrame(mr *bufio.Reader, h *wsframe.Header) error {
	t.cw.Lock()
	defer t.cw.Unlock()
	t.mu.Lock()
	drop := t.sentClose
	t.mu.Unlock()
	var err error
	if drop {
		_, err = mr.Discard(int(h.Length))
	} else {
		err = t.relay(t.client, mr, h)
	}
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if h.IsData() {
		t.downOpen = !h.Fin
		if h.Fin && !drop {
			t.counts.ToClient++
		}
	}
	return nil
}

// memberEnded decides what the end of a member's side means: while detaching, the member is
// let go at a message boundary, or the resume fails; otherwise the tunnel ends, as any tunnel
// whose member went away.
func (t *Tunnel) memberEnded(member net.Conn) {
	t.mw.Lock()
	t.mu.Lock()
	if t.member != member || t.state != detaching {
		t.mu.Unlock()
		t.mw.Unlock()
		t.shutUnlessClosing()
		return
	}
	ok := !t.downOpen && (t.upCut || !t.upOpen)
	if ok {
		t.upCut = true
		t.member = nil
		t.state = detached
	}
	t.mu.Unlock()
	t.mw.Unlock()
	_ = member.Close()
	if !ok {
		t.fail(ReasonMidMessage, nil, detaching)
	}
}

func (t *Tunnel) inState(s state) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.state == s
}

// shutUnlessClosing ends the tunnel, unless a close is under way (it ends it then).
func (t *Tunnel) shutUnlessClosing() {
	t.mu.Lock()
	closing := t.closing
	t.mu.Unlock()
	if !closing {
		t.shut()
	}
}

// clientAnswered records that the client sent its Close frame or ended.
func (t *Tunnel) clientAnswered() {
	t.mu.Lock()
	defer t.mu.Unlock()
	select {
	case <-t.answered:
	default:
		close(t.answered)
	}
}

// toClient writes a whole frame to the client.
func (t *Tunnel) toClient(frame []byte) error {
	t.cw.Lock()
	defer t.cw.Unlock()
	t.mu.Lock()
	closed := t.sentClose
	t.mu.Unlock()
	if closed {
		return nil
	}
	return t.writeTo(t.client, frame)
}

// relay writes h and its payload, read from r, to c.
func (t *Tunnel) relay(c net.Conn, r *bufio.Reader, h *wsframe.Header) error {
	head, _ := r.Peek(h.Len)
	if err := t.writeTo(c, head); err != nil {
		return err
	}
	_, _ = r.Discard(h.Len)
	for n := h.Length; n > 0; {
		if _, err := r.Peek(1); err != nil {
			return err
		}
		p, _ := r.Peek(int(min(uint64(r.Buffered()), n)))
		if err := t.writeTo(c, p); err != nil {
			return err
		}
		_, _ = r.Discard(len(p))
		n -= uint64(len(p))
	}
	return nil
}

// writeTo writes p to c within the send timeout.
func (t *Tunnel) writeTo(c net.Conn, p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if t.opts.SendTimeout > 0 {
		_ = c.SetWriteDeadline(time.Now().Add(t.opts.SendTimeout))
	}
	_, err := c.Write(p)
	return err
}

// errFraming is a frame header that is not valid WebSocket framing.
var errFraming = errors.New("resume: invalid WebSocket framing")

// readHeader reads the next frame header from r, leaving it in r's buffer.
func readHeader(r *bufio.Reader) (wsframe.Header, error) {
	p, err := r.Peek(2)
	if err != nil {
		return wsframe.Header{}, err
	}
	if p, err = r.Peek(wsframe.HeaderLen(p[1])); err != nil {
		return wsframe.Header{}, err
	}
	h, err := wsframe.ParseHeader(p)
	if err != nil {
		return h, errors.Join(errFraming, err)
	}
	return h, nil
}

// readFrame reads the frame whose header readHeader found, header included.
func readFrame(r *bufio.Reader, h *wsframe.Header) ([]byte, error) {
	frame := make([]byte, h.Len+int(h.Length))
	_, err := io.ReadFull(r, frame)
	return frame, err
}

// serverFrame is an unmasked frame of op with the client's payload, unmasked with mask.
func serverFrame(op wsframe.Opcode, payload []byte, mask [4]byte) []byte {
	f := wsframe.AppendHeader(nil, true, op, len(payload), nil)
	start := len(f)
	f = append(f, payload...)
	wsframe.Unmask(f[start:], mask, 0)
	return f
}

// closeCode is the status code of a client's Close payload, 1000 when it has none.
func closeCode(payload []byte, mask [4]byte) uint16 {
	if len(payload) < 2 {
		return 1000
	}
	b := []byte{payload[0], payload[1]}
	wsframe.Unmask(b, mask, 0)
	return binary.BigEndian.Uint16(b)
}

// maskedClose is a Close frame as a client sends it.
func maskedClose(code uint16, reason string) []byte {
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	payload := binary.BigEndian.AppendUint16(nil, code)
	payload = append(payload, reason...)
	f := wsframe.AppendHeader(nil, true, wsframe.OpClose, len(payload), &mask)
	start := len(f)
	f = append(f, payload...)
	wsframe.Unmask(f[start:], mask, 0)
	return f
}

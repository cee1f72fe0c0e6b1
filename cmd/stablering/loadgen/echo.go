package loadgen

import "time"

// maxPending bounds the messages a connection remembers while they wait for their echo.
const maxPending = 1000

// echoTracker follows one connection's messages until the server echoes them back, however late.
// When the connection ends, a message still waiting is lost if it was sent at least the echo
// timeout before, and unconfirmed otherwise: it may have crossed the server's close frame on the
// wire, and nothing tells whether the server got it. A message still waiting when maxPending
// later ones have been sent is lost too, which bounds the memory. Times are offsets from the
// start of the run.
type echoTracker struct {
	timeout time.Duration
	pending map[uint64]time.Duration // message id -> when it was sent

	sent, lost, unconfirmed int
}

func newEchoTracker(timeout time.Duration) *echoTracker {
	return &echoTracker{timeout: timeout, pending: map[uint64]time.Duration{}}
}

// send records that message id, the successor of the previous one, is being sent at at. It
// returns the number of messages it gave up on, 0 or 1.
func (e *echoTracker) send(id uint64, at time.Duration) int {
	e.pending[id] = at
	e.sent++
	if id <= maxPending {
		return 0
	}
	if _, ok := e.pending[id-maxPending]; !ok {
		return 0
	}
	delete(e.pending, id-maxPending)
	e.lost++
	return 1
}

// unsend takes back a message whose write failed.
func (e *echoTracker) unsend(id uint64) {
	if _, ok := e.pending[id]; ok {
		delete(e.pending, id)
		e.sent--
	}
}

// echo records the echo of message id. Echoes of unknown messages are ignored.
func (e *echoTracker) echo(id uint64) {
	delete(e.pending, id)
}

// end closes the books when the connection ends at now and returns the number of messages lost.
func (e *echoTracker) end(now time.Duration) int {
	n := 0
	for _, at := range e.pending {
		if now-at >= e.timeout {
			n++
		}
	}
	e.lost += n
	e.unconfirmed += len(e.pending) - n
	clear(e.pending)
	return n
}

package loadgen

import (
	"testing"
	"time"
)

func TestEchoTracker(t *testing.T) {
	const ms = time.Millisecond
	e := newEchoTracker(time.Second)
	e.send(1, 0)
	e.send(2, 500*ms)
	e.send(3, 1000*ms)
	e.echo(1)
	e.echo(2) // late echoes count
	e.send(4, 2000*ms)
	e.unsend(4) // the write failed
	e.unsend(4)
	e.send(5, 3000*ms)
	e.send(6, 3800*ms)
	e.echo(42)
	if n := e.end(4100 * ms); n != 2 {
		t.Errorf("end lost %d, want messages 3 and 5", n)
	}
	if e.sent != 5 || e.lost != 2 || e.unconfirmed != 1 || len(e.pending) != 0 {
		t.Errorf("sent %d, lost %d, unconfirmed %d, pending %d; want 5, 2, 1, 0", e.sent, e.lost, e.unconfirmed, len(e.pending))
	}
}

func TestEchoTrackerGivesUpOnOldMessages(t *testing.T) {
	e := newEchoTracker(time.Second)
	lost := 0
	for id := uint64(1); id <= maxPending+10; id++ {
		lost += e.send(id, time.Duration(id)*time.Second)
		if id%2 == 0 {
			e.echo(id)
		}
	}
	if lost != 5 || e.lost != 5 || len(e.pending) != maxPending/2 {
		t.Errorf("lost %d (%d), pending %d; want the 5 unanswered messages more than %d old, and %d pending",
			lost, e.lost, len(e.pending), maxPending, maxPending/2)
	}
}

package loadgen

import (
	"sync"
	"sync/atomic"
	"time"
)

// recorder collects the events of all connections, timestamped under one lock so that the room
// accounting sees them in order. After finish it ignores further events: connections closed by
// the end of the run are not disconnects.
type recorder struct {
	start time.Time

	mu       sync.Mutex
	finished bool
	live     int
	rooms    *roomTracker
	timeline timeline
	reported Second // totals at the previous snapshot

	connectErrors    int
	lastConnectError error

	messagesSent, messagesLost atomic.Int64
}

func newRecorder(start time.Time) *recorder {
	return &recorder{start: start, rooms: newRoomTracker()}
}

// now returns the offset from the start of the run.
func (r *recorder) now() time.Duration { return time.Since(r.start) }

// connected records that pod welcomed a connection of room. It returns when, and false if the
// run has already finished.
func (r *recorder) connected(room, pod string) (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	at := r.now()
	if r.finished {
		return at, false
	}
	r.live++
	r.rooms.connect(room, pod, at)
	r.timeline.add(connected, at)
	return at, true
}

// disconnected records the end of a connection of room on pod.
func (r *recorder) disconnected(room, pod string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.finished {
		return
	}
	at := r.now()
	r.live--
	r.rooms.disconnect(room, pod, at)
	r.timeline.add(disconnected, at)
}

// heldAnswer records a 503 answer to a connection attempt.
func (r *recorder) heldAnswer() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.finished {
		r.timeline.add(held, r.now())
	}
}

// connectFailed records a failed connection attempt other than a held answer.
func (r *recorder) connectFailed(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.finished {
		r.connectErrors++
		r.lastConnectError = err
	}
}

// finish freezes the accounting and returns the length of the run.
func (r *recorder) finish() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finished = true
	return r.now()
}

// snapshot returns the current Stats.
func (r *recorder) snapshot() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	at := r.now()
	total := r.timeline.total
	s := Stats{
		Elapsed:          at,
		Live:             r.live,
		Connects:         total.Connects - r.reported.Connects,
		Disconnects:      total.Disconnects - r.reported.Disconnects,
		HeldAnswers:      total.HeldAnswers - r.reported.HeldAnswers,
		SplitRooms:       r.rooms.splitRooms(),
		RoomSplitSeconds: r.rooms.splitSeconds(at),
		MessagesSent:     r.messagesSent.Load(),
		MessagesLost:     r.messagesLost.Load(),
	}
	r.reported = total
	return s
}

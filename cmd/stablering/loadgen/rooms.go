package loadgen

import "time"

// roomTracker follows which pods hold live connections of each room. From the connect and
// disconnect events it computes room-split time exactly, and it remembers the pods that served
// each room first and last, to tell which rooms changed owner. Event times are offsets from the
// start of the run and must not decrease.
type roomTracker struct {
	rooms map[string]*roomState
	split int // rooms live on two or more pods now
}

// roomState is one room's live connections and history.
type roomState struct {
	live        map[string]int // pod -> live connections of the room
	splitSince  time.Duration  // when the current split began; meaningful while len(live) >= 2
	splitTotal  time.Duration  // sum of the finished splits
	first, last string         // pods of the room's first and latest connections
}

func newRoomTracker() *roomTracker {
	return &roomTracker{rooms: map[string]*roomState{}}
}

// connect records a connection of room that pod welcomed at at.
func (t *roomTracker) connect(room, pod string, at time.Duration) {
	r := t.rooms[room]
	if r == nil {
		r = &roomState{live: map[string]int{}, first: pod}
		t.rooms[room] = r
	}
	r.last = pod
	wasSplit := r.isSplit()
	r.live[pod]++
	if !wasSplit && r.isSplit() {
		r.splitSince = at
		t.split++
	}
}

// disconnect records the end, at at, of a connection of room on pod. An end without a matching
// connect is ignored.
func (t *roomTracker) disconnect(room, pod string, at time.Duration) {
	r := t.rooms[room]
	if r == nil || r.live[pod] == 0 {
		return
	}
	wasSplit := r.isSplit()
	if r.live[pod]--; r.live[pod] == 0 {
		delete(r.live, pod)
	}
	if wasSplit && !r.isSplit() {
		r.splitTotal += at - r.splitSince
		t.split--
	}
}

func (r *roomState) isSplit() bool { return len(r.live) >= 2 }

// splitRooms returns how many rooms are split now.
func (t *roomTracker) splitRooms() int { return t.split }

// splitSeconds returns the room-split seconds until now: summed over rooms, the time during
// which a room had live connections on two or more pods at once.
func (t *roomTracker) splitSeconds(now time.Duration) float64 {
	var total time.Duration
	for _, r := range t.rooms {
		total += r.splitTotal
		if r.isSplit() {
			total += now - r.splitSince
		}
	}
	return total.Seconds()
}

// changedOwner returns how many rooms are served at the end by a pod other than the one that
// served them first. A room's pods at the end are those of its live connections, or, when it
// has none, the pod of its latest connection. Pods are compared by name, which a StatefulSet
// pod keeps across restarts.
func (t *roomTracker) changedOwner() int {
	n := 0
	for _, r := range t.rooms {
		if r.movedFromFirst() {
			n++
		}
	}
	return n
}

func (r *roomState) movedFromFirst() bool {
	if len(r.live) == 0 {
		return r.last != r.first
	}
	for pod := range r.live {
		if pod != r.first {
			return true
		}
	}
	return false
}

package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/coder/websocket"
	"k8s.io/utils/clock"

	"github.com/stablering/stablering/internal/sleep"
)

// welcome is the first message a member gets.
type welcome struct {
	Type    string `json:"type"` // "welcome"
	Room    string `json:"room"`
	Pod     string `json:"pod"`
	Client  string `json:"client"`
	Members int    `json:"members"`
	Seq     uint64 `json:"seq"`
}

// message is a broadcast text message.
type message struct {
	Type string `json:"type"` // "message"
	Room string `json:"room"`
	Pod  string `json:"pod"`
	Seq  uint64 `json:"seq"`
	From string `json:"from"`
	Text string `json:"text"`
}

// roomInfo is one room in the /rooms answer.
type roomInfo struct {
	Room    string `json:"room"`
	Members int    `json:"members"`
	Seq     uint64 `json:"seq"`
}

// roomList is the /rooms answer.
type roomList struct {
	Pod   string     `json:"pod"`
	Rooms []roomInfo `json:"rooms"`
}

// errShuttingDown is the answer to joins after shutdown started.
var errShuttingDown = errors.New("shutting down")

// hub holds the rooms. One mutex guards them all, which is plenty for an example; a busy
// service would shard it by room.
type hub struct {
	pod string
	// clock paces the drain; nil is the real clock.
	clock clock.Clock

	mu    sync.Mutex
	rooms map[string]*room
	// keep keeps rooms without members, for connections that resume (the hub has a state
	// file to pass them on in).
	keep    bool
	closed  bool           // set by drain: joins fail from then on
	members sync.WaitGroup // counts the members in all rooms
}

// room is one room's state: its members, its message counter and its latest messages.
type room struct {
	seq     uint64
	members map[*member]struct{}
	// history holds the room's latest messages, encoded, the last one numbered seq, for the
	// resumed connections that missed them.
	history [][]byte
}

// historyLength is how many messages a room keeps for resumed connections.
const historyLength = 1024

// errMissed is the answer to a resume whose missed messages the room no longer has.
var errMissed = errors.New("the messages this connection missed are gone")

func newHub(pod string) *hub {
	return &hub{pod: pod, rooms: map[string]*room{}}
}

// join adds m to its room and queues its welcome, so the welcome precedes every broadcast m
// receives, and returns the seq it welcomed m with. It fails once the hub is draining.
func (h *hub) join(m *member) (uint64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return 0, errShuttingDown
	}
	r := h.room(m.room)
	r.members[m] = struct{}{}
	h.members.Add(1)
	m.send(encode(welcome{Type: "welcome", Room: m.room, Pod: h.pod, Client: m.id, Members: len(r.members), Seq: r.seq}))
	return r.seq, nil
}

// rejoin adds m, a resumed connection whose client saw the room's messages up to seq, to its
// room, and queues the messages it missed. It fails when the room no longer has them all.
func (h *hub) rejoin(m *member, seq uint64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errShuttingDown
	}
	r := h.room(m.room)
	missed := r.seq - seq
	if seq > r.seq || missed > uint64(len(r.history)) || missed > queueLength {
		if len(r.members) == 0 && !h.keep {
			delete(h.rooms, m.room)
		}
		return errMissed
	}
	r.members[m] = struct{}{}
	h.members.Add(1)
	for _, data := range r.history[uint64(len(r.history))-missed:] {
		m.send(data)
	}
	return nil
}

// room returns the room of key, made if need be. Called with h.mu.
func (h *hub) room(key string) *room {
	r := h.rooms[key]
	if r == nil {
		r = &room{members: map[*member]struct{}{}}
		h.rooms[key] = r
	}
	return r
}

// leave removes m from its room and forgets the room when it is empty.
func (h *hub) leave(m *member) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[m.room]
	if _, ok := r.members[m]; !ok { // reading a nil map is fine
		return
	}
	delete(r.members, m)
	if len(r.members) == 0 && !h.keep {
		delete(h.rooms, m.room)
	}
	h.members.Done()
}

// broadcast numbers text as from's room's next message and queues it for every member.
func (h *hub) broadcast(from *member, text string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[from.room]
	if _, ok := r.members[from]; !ok {
		return
	}
	r.seq++
	data := encode(message{Type: "message", Room: from.room, Pod: h.pod, Seq: r.seq, From: from.id, Text: text})
	r.history = append(r.history, data)
	if len(r.history) > historyLength {
		r.history = slices.Clone(r.history[len(r.history)-historyLength:])
	}
	for m := range r.members {
		m.send(data)
	}
}

// list lists the rooms sorted by key.
func (h *hub) list() []roomInfo {
	h.mu.Lock()
	list := make([]roomInfo, 0, len(h.rooms))
	for key, r := range h.rooms {
		list = append(list, roomInfo{Room: key, Members: len(r.members), Seq: r.seq})
	}
	h.mu.Unlock()
	slices.SortFunc(list, func(a, b roomInfo) int { return cmp.Compare(a.Room, b.Room) })
	return list
}

// drain refuses further joins, asks every member to go away, spreading the requests evenly over
// window, and waits until all members have left or ctx is done. It returns the number of members
// it asked to go away.
func (h *hub) drain(ctx context.Context, window time.Duration) (int, error) {
	h.mu.Lock()
	h.closed = true
	var members []*member
	for _, r := range h.rooms {
		for m := range r.members {
			members = append(members, m)
		}
	}
	h.mu.Unlock()

	wait := sleep.On{Clock: h.clock}
	start := wait.Now()
	for i, m := range members {
		// Member i goes at start + i/n of the window: no drift, whatever the timer precision.
		if !wait.Until(ctx, start.Add(window*time.Duration(i)/time.Duration(len(members)))) {
			break
		}
		m.stop(websocket.StatusGoingAway, "pod shutting down")
	}

	left := make(chan struct{})
	go func() {
		h.members.Wait()
		close(left)
	}()
	select {
	case <-left:
		return len(members), nil
	case <-ctx.Done():
		return len(members), ctx.Err()
	}
}

// encode marshals a message. It cannot fail: messages hold only strings and integers, and
// invalid UTF-8 in a client's text becomes U+FFFD.
func encode(v any) []byte {
	data, _ := json.Marshal(v)
	return data
}

// savedRoom is a room as a state file keeps it.
type savedRoom struct {
	Room    string            `json:"room"`
	Seq     uint64            `json:"seq"`
	History []json.RawMessage `json:"history"`
}

// save writes every room's counter and history to w.
func (h *hub) save(w io.Writer) error {
	h.mu.Lock()
	rooms := make([]savedRoom, 0, len(h.rooms))
	for key, r := range h.rooms {
		saved := savedRoom{Room: key, Seq: r.seq}
		for _, data := range r.history {
			saved.History = append(saved.History, data)
		}
		rooms = append(rooms, saved)
	}
	h.mu.Unlock()
	return json.NewEncoder(w).Encode(rooms)
}

// restore reads rooms that save wrote.
func (h *hub) restore(rd io.Reader) error {
	var rooms []savedRoom
	if err := json.NewDecoder(rd).Decode(&rooms); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, saved := range rooms {
		r := h.room(saved.Room)
		r.seq = saved.Seq
		for _, data := range saved.History {
			r.history = append(r.history, data)
		}
	}
	return nil
}

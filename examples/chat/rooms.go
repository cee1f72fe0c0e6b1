package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
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

	mu      sync.Mutex
	rooms   map[string]*room
	closed  bool           // set by drain: joins fail from then on
	members sync.WaitGroup // counts the members in all rooms
}

// room is one room's state: its members and its message counter.
type room struct {
	seq     uint64
	members map[*member]struct{}
}

func newHub(pod string) *hub {
	return &hub{pod: pod, rooms: map[string]*room{}}
}

// join adds m to its room and queues its welcome, so the welcome precedes every broadcast m
// receives. It fails once the hub is draining.
func (h *hub) join(m *member) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errShuttingDown
	}
	r := h.rooms[m.room]
	if r == nil {
		r = &room{members: map[*member]struct{}{}}
		h.rooms[m.room] = r
	}
	r.members[m] = struct{}{}
	h.members.Add(1)
	m.send(encode(welcome{Type: "welcome", Room: m.room, Pod: h.pod, Client: m.id, Members: len(r.members), Seq: r.seq}))
	return nil
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
	if len(r.members) == 0 {
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

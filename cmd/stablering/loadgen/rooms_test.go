package loadgen

import (
	"testing"
	"time"
)

const sec = time.Second

// event is a connect (+1) or disconnect (-1) of a room's connection on a pod.
type event struct {
	at        time.Duration
	room, pod string
	delta     int
}

func replay(events []event) *roomTracker {
	t := newRoomTracker()
	for _, e := range events {
		if e.delta > 0 {
			t.connect(e.room, e.pod, e.at)
		} else {
			t.disconnect(e.room, e.pod, e.at)
		}
	}
	return t
}

func TestRoomSplitSecondsAreExact(t *testing.T) {
	for _, tc := range []struct {
		name   string
		events []event
		now    time.Duration
		want   float64
		split  int // rooms split at now
	}{
		{"one pod", []event{{0, "a", "p1", 1}, {1 * sec, "a", "p1", 1}, {2 * sec, "a", "p1", -1}}, 5 * sec, 0, 0},
		{"rooms never split each other", []event{{0, "a", "p1", 1}, {0, "b", "p2", 1}}, 5 * sec, 0, 0},
		{"split until the old pod's last connection ends", []event{
			{0, "a", "p1", 1}, {0, "a", "p1", 1},
			{1 * sec, "a", "p2", 1},                  // split from 1s
			{2 * sec, "a", "p1", -1},                 // p1 still holds one
			{3500 * time.Millisecond, "a", "p1", -1}, // split ends: 2.5s
		}, 10 * sec, 2.5, 0},
		{"a third pod does not count twice", []event{
			{0, "a", "p1", 1}, {1 * sec, "a", "p2", 1}, {2 * sec, "a", "p3", 1},
			{3 * sec, "a", "p1", -1}, {4 * sec, "a", "p2", -1}, // p3 alone from 4s: 3s split
		}, 10 * sec, 3, 0},
		{"an open split counts until now", []event{
			{0, "a", "p1", 1}, {1 * sec, "a", "p2", 1}, {2 * sec, "a", "p1", -1}, // 1s
			{4 * sec, "a", "p1", 1}, // split again from 4s
		}, 6 * sec, 3, 1},
		{"splits of several rooms add up", []event{
			{0, "a", "p1", 1}, {0, "b", "p1", 1},
			{1 * sec, "a", "p2", 1}, {1 * sec, "b", "p3", 1},
			{2 * sec, "a", "p1", -1}, {4 * sec, "b", "p3", -1},
		}, 10 * sec, 1 + 3, 0},
		{"unmatched disconnects are ignored", []event{
			{0, "a", "p1", -1}, {0, "a", "p1", 1}, {1 * sec, "a", "p2", -1}, {1 * sec, "b", "p1", -1},
		}, 10 * sec, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := replay(tc.events)
			if got := tr.splitSeconds(tc.now); got != tc.want {
				t.Errorf("splitSeconds = %v, want %v", got, tc.want)
			}
			if got := tr.splitRooms(); got != tc.split {
				t.Errorf("splitRooms = %d, want %d", got, tc.split)
			}
		})
	}
}

func TestRoomsThatChangedOwner(t *testing.T) {
	tr := replay([]event{
		// Restarted in place: same pod name before and after.
		{0, "stay", "chat-1", 1}, {1 * sec, "stay", "chat-1", -1}, {2 * sec, "stay", "chat-1", 1},
		// Moved to another pod and stayed there.
		{0, "moved", "chat-1", 1}, {1 * sec, "moved", "chat-1", -1}, {2 * sec, "moved", "chat-2", 1},
		// Moved, and nobody is connected at the end: its latest pod counts.
		{0, "gone", "chat-1", 1}, {1 * sec, "gone", "chat-1", -1}, {2 * sec, "gone", "chat-2", 1}, {3 * sec, "gone", "chat-2", -1},
		// Moved away and back.
		{0, "back", "chat-1", 1}, {1 * sec, "back", "chat-1", -1}, {2 * sec, "back", "chat-2", 1},
		{3 * sec, "back", "chat-2", -1}, {4 * sec, "back", "chat-1", 1},
		// Split at the end, partly still on its first pod.
		{0, "split", "chat-1", 1}, {1 * sec, "split", "chat-2", 1},
	})
	if got := tr.changedOwner(); got != 3 {
		t.Errorf("changedOwner = %d, want 3 (moved, gone, split)", got)
	}
}

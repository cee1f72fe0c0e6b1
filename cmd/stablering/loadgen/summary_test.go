package loadgen

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// visits returns a record whose sessions were on pods, one second apart.
func visits(room string, pods ...string) ClientRecord {
	c := ClientRecord{Room: room}
	for i, p := range pods {
		c.visit(p, time.Duration(i)*time.Second)
	}
	return c
}

func TestSummarize(t *testing.T) {
	rec := newRecorder(time.Now())
	clients := []ClientRecord{
		visits("room-0"),                                    // never connected
		visits("room-1", "chat-0"),                          // 0 reconnects
		visits("room-0", "chat-1", "chat-1"),                // 1, same pod
		visits("room-1", "chat-0", "chat-2"),                // 1, pod changed
		visits("room-0", "chat-1", "chat-1", "chat-1"),      // 2
		visits("room-1", "chat-0", "chat-0", "chat-0", "x"), // 3, pod changed
	}
	clients[1].Messages = MessageStats{Sent: 10, Lost: 1, Unconfirmed: 2}
	clients[2].Messages = MessageStats{Sent: 5}
	for _, at := range []time.Duration{1 * sec, 3 * sec, 3 * sec, 3 * sec} {
		rec.timeline.add(disconnected, at)
	}
	rec.timeline.add(held, 3*sec)
	rec.rooms.connect("room-1", "chat-0", 0)
	rec.rooms.connect("room-1", "chat-2", 2*sec) // split from 2s to the end
	rec.connectFailed(errors.New("connection refused"))

	s := rec.summarize(clients, 2, 4*sec)
	want := ReconnectStats{Total: 7, Mean: 7.0 / 6, Max: 3, ByCount: [4]int{2, 2, 1, 1}}
	if s.Reconnects != want {
		t.Errorf("reconnects = %+v, want %+v", s.Reconnects, want)
	}
	if want := (PeakDisconnects{Second: 3, Disconnects: 3, Share: 0.5}); s.PeakDisconnects != want {
		t.Errorf("peak = %+v, want %+v", s.PeakDisconnects, want)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"connections", s.Connections, 6},
		{"rooms", s.Rooms, 2},
		{"never connected", s.NeverConnected, 1},
		{"pod changed", s.ConnectionsPodChanged, 2},
		{"changed owner", s.RoomsChangedOwner, 1},
		{"split seconds", s.RoomSplitSeconds, 2.0},
		{"disconnects", s.Disconnects, 4},
		{"held", s.HeldAnswers, 1},
		{"connect errors", s.ConnectErrors, 1},
		{"last connect error", s.LastConnectError, "connection refused"},
		{"messages", s.Messages, MessageStats{Sent: 15, Lost: 1, Unconfirmed: 2}},
		{"timeline length", len(s.Timeline), 5},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}

	var text bytes.Buffer
	if err := s.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	columns := regexp.MustCompile(" {2,}").ReplaceAllString(text.String(), "\t")
	for _, line := range []string{
		"reconnects per connection\tmean 1.17, max 3\n",
		"connections by reconnects\t0: 2, 1: 2, 2: 1, 3+: 1\n",
		"peak disconnects in a second\t3 (50.0% of connections, second 3)\n",
		"failed connection attempts\t1 (last: connection refused)\n",
		"messages lost\t1 (2 unconfirmed)\n",
	} {
		if !strings.Contains(columns, line) {
			t.Errorf("text summary lacks %q:\n%s", line, text.String())
		}
	}

	var js bytes.Buffer
	if err := s.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Summary
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || !reflect.DeepEqual(&back, s) {
		t.Errorf("JSON round trip = %+v, %v; want %+v", back, err, s)
	}
}

func TestSummarizeNothing(t *testing.T) {
	s := newRecorder(time.Now()).summarize(nil, 0, 0)
	if s.Reconnects.Mean != 0 || s.PeakDisconnects.Share != 0 || len(s.Timeline) != 1 {
		t.Errorf("empty summary = %+v, want zeros and one second", s)
	}
	if err := s.WriteText(&bytes.Buffer{}); err != nil {
		t.Error(err)
	}
}

package loadgen

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// Summary is the outcome of a run. Run documents how each number is counted.
type Summary struct {
	Connections           int             `json:"connections"`
	Rooms                 int             `json:"rooms"`
	DurationSeconds       float64         `json:"durationSeconds"`
	NeverConnected        int             `json:"neverConnected"`
	Reconnects            ReconnectStats  `json:"reconnects"`
	ConnectionsPodChanged int             `json:"connectionsPodChanged"`
	RoomsChangedOwner     int             `json:"roomsChangedOwner"`
	RoomSplitSeconds      float64         `json:"roomSplitSeconds"`
	Disconnects           int             `json:"disconnects"`
	PeakDisconnects       PeakDisconnects `json:"peakDisconnects"`
	HeldAnswers           int             `json:"heldAnswers"`
	ConnectErrors         int             `json:"connectErrors"`
	LastConnectError      string          `json:"lastConnectError,omitempty"`
	Messages              MessageStats    `json:"messages"`
	Timeline              []Second        `json:"timeline"`
	Clients               []ClientRecord  `json:"clients"`
}

// ReconnectStats describes the reconnects per connection.
type ReconnectStats struct {
	Total int     `json:"total"`
	Mean  float64 `json:"mean"`
	Max   int     `json:"max"`
	// ByCount counts connections by their reconnects: [0] none, [1] one, [2] two, [3] three or more.
	ByCount [4]int `json:"byCount"`
}

// PeakDisconnects is the second with the most disconnects.
type PeakDisconnects struct {
	Second      int     `json:"second"`
	Disconnects int     `json:"disconnects"`
	Share       float64 `json:"share"` // of all connections
}

// MessageStats counts the messages the connections sent.
type MessageStats struct {
	Sent        int `json:"sent"`
	Lost        int `json:"lost"`
	Unconfirmed int `json:"unconfirmed"`
}

// ClientRecord is what one connection went through.
type ClientRecord struct {
	Index       int    `json:"index"`
	Room        string `json:"room"`
	Reconnects  int    `json:"reconnects"`
	HeldAnswers int    `json:"heldAnswers"`
	// Pods lists the pods that welcomed the connection, one per session, in order.
	Pods     []PodVisit   `json:"pods"`
	Messages MessageStats `json:"messages"`
}

// PodVisit is one session of a connection.
type PodVisit struct {
	Pod string  `json:"pod"`
	At  float64 `json:"at"` // seconds since the start when the pod's welcome arrived
}

// visit records a session on pod that began at at. Every session after the first is a
// reconnect.
func (c *ClientRecord) visit(pod string, at time.Duration) {
	if len(c.Pods) > 0 {
		c.Reconnects++
	}
	c.Pods = append(c.Pods, PodVisit{Pod: pod, At: at.Seconds()})
}

// podChanged reports whether two consecutive sessions of the connection were on different pods.
func (c *ClientRecord) podChanged() bool {
	for i := 1; i < len(c.Pods); i++ {
		if c.Pods[i].Pod != c.Pods[i-1].Pod {
			return true
		}
	}
	return false
}

// summarize computes the summary of a finished run over the given number of rooms that lasted
// elapsed, from the recorder's accounting and the connections' records.
func (r *recorder) summarize(clients []ClientRecord, rooms int, elapsed time.Duration) *Summary {
	tl := &r.timeline
	tl.extend(elapsed)
	s := &Summary{
		Connections:       len(clients),
		Rooms:             rooms,
		DurationSeconds:   elapsed.Seconds(),
		Reconnects:        reconnectStats(clients),
		RoomsChangedOwner: r.rooms.changedOwner(),
		RoomSplitSeconds:  r.rooms.splitSeconds(elapsed),
		Disconnects:       tl.total.Disconnects,
		HeldAnswers:       tl.total.HeldAnswers,
		ConnectErrors:     r.connectErrors,
		Timeline:          tl.seconds,
		Clients:           clients,
	}
	if r.lastConnectError != nil {
		s.LastConnectError = r.lastConnectError.Error()
	}
	peak := tl.peakDisconnects()
	s.PeakDisconnects = PeakDisconnects{Second: peak.Second, Disconnects: peak.Disconnects, Share: ratio(peak.Disconnects, len(clients))}
	for i := range clients {
		c := &clients[i]
		if len(c.Pods) == 0 {
			s.NeverConnected++
		}
		if c.podChanged() {
			s.ConnectionsPodChanged++
		}
		s.Messages.Sent += c.Messages.Sent
		s.Messages.Lost += c.Messages.Lost
		s.Messages.Unconfirmed += c.Messages.Unconfirmed
	}
	return s
}

func reconnectStats(clients []ClientRecord) ReconnectStats {
	var r ReconnectStats
	for _, c := range clients {
		r.Total += c.Reconnects
		r.Max = max(r.Max, c.Reconnects)
		r.ByCount[min(c.Reconnects, len(r.ByCount)-1)]++
	}
	r.Mean = ratio(r.Total, len(clients))
	return r
}

func ratio(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

// WriteText writes the summary as a table.
func (s *Summary) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	r := s.Reconnects
	rows := [][2]string{
		{"connections", fmt.Sprint(s.Connections)},
		{"rooms", fmt.Sprint(s.Rooms)},
		{"duration", fmt.Sprintf("%.1fs", s.DurationSeconds)},
		{"never connected", fmt.Sprint(s.NeverConnected)},
		{"reconnects per connection", fmt.Sprintf("mean %.2f, max %d", r.Mean, r.Max)},
		{"connections by reconnects", fmt.Sprintf("0: %d, 1: %d, 2: %d, 3+: %d", r.ByCount[0], r.ByCount[1], r.ByCount[2], r.ByCount[3])},
		{"connections whose pod changed", fmt.Sprint(s.ConnectionsPodChanged)},
		{"rooms that changed owner", fmt.Sprint(s.RoomsChangedOwner)},
		{"room-split seconds", fmt.Sprintf("%.2f", s.RoomSplitSeconds)},
		{"disconnects", fmt.Sprint(s.Disconnects)},
		{"peak disconnects in a second", fmt.Sprintf("%d (%.1f%% of connections, second %d)",
			s.PeakDisconnects.Disconnects, 100*s.PeakDisconnects.Share, s.PeakDisconnects.Second)},
		{"held answers (503)", fmt.Sprint(s.HeldAnswers)},
		{"failed connection attempts", connectErrors(s)},
		{"messages sent", fmt.Sprint(s.Messages.Sent)},
		{"messages lost", fmt.Sprintf("%d (%d unconfirmed)", s.Messages.Lost, s.Messages.Unconfirmed)},
	}
	for _, row := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", row[0], row[1])
	}
	return tw.Flush()
}

func connectErrors(s *Summary) string {
	if s.ConnectErrors == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (last: %s)", s.ConnectErrors, s.LastConnectError)
}

// WriteJSON writes the summary, its timeline and every connection's record as indented JSON.
func (s *Summary) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

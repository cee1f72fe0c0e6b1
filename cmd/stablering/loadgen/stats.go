package loadgen

import (
	"fmt"
	"time"
)

// Stats is a live snapshot of a run, for progress reports. Connects, Disconnects and
// HeldAnswers count the events since the previous snapshot; the other fields are current
// values or totals.
type Stats struct {
	Elapsed          time.Duration
	Live             int // connections with an open session
	Connects         int
	Disconnects      int
	HeldAnswers      int
	SplitRooms       int // rooms with live connections on two or more pods now
	RoomSplitSeconds float64
	MessagesSent     int64
	MessagesLost     int64
}

// String formats the snapshot as one progress line.
func (s Stats) String() string {
	return fmt.Sprintf("t=%-6s live=%-6d connects=%-5d disconnects=%-5d held=%-5d split-rooms=%-4d split-s=%-8.2f sent=%d lost=%d",
		s.Elapsed.Truncate(time.Second), s.Live, s.Connects, s.Disconnects, s.HeldAnswers,
		s.SplitRooms, s.RoomSplitSeconds, s.MessagesSent, s.MessagesLost)
}

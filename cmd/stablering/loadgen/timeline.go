package loadgen

import "time"

// Second counts the events of one second of the run.
type Second struct {
	Second      int `json:"second"` // seconds since the start
	Connects    int `json:"connects"`
	Disconnects int `json:"disconnects"`
	HeldAnswers int `json:"heldAnswers"`
}

// eventKind is what a timeline counts.
type eventKind int

const (
	connected eventKind = iota
	disconnected
	held
)

// timeline counts events per second of the run, and in all.
type timeline struct {
	seconds []Second
	total   Second
}

// add counts an event of kind at offset at from the start.
func (tl *timeline) add(kind eventKind, at time.Duration) {
	tl.extend(at)
	tl.seconds[max(int(at/time.Second), 0)].count(kind)
	tl.total.count(kind)
}

// extend makes the timeline cover the second that contains offset at.
func (tl *timeline) extend(at time.Duration) {
	for len(tl.seconds) <= int(at/time.Second) {
		tl.seconds = append(tl.seconds, Second{Second: len(tl.seconds)})
	}
}

func (s *Second) count(kind eventKind) {
	switch kind {
	case connected:
		s.Connects++
	case disconnected:
		s.Disconnects++
	case held:
		s.HeldAnswers++
	}
}

// peakDisconnects returns the earliest second with the most disconnects, or a zero Second if
// there were none.
func (tl *timeline) peakDisconnects() Second {
	var peak Second
	for _, s := range tl.seconds {
		if s.Disconnects > peak.Disconnects {
			peak = s
		}
	}
	return peak
}

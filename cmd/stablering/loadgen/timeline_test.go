package loadgen

import (
	"reflect"
	"testing"
	"time"
)

func TestTimeline(t *testing.T) {
	var tl timeline
	tl.add(connected, 100*time.Millisecond)
	tl.add(connected, 900*time.Millisecond)
	tl.add(disconnected, 2*time.Second)
	tl.add(disconnected, 2500*time.Millisecond)
	tl.add(held, 2600*time.Millisecond)
	tl.add(disconnected, 4*time.Second)
	tl.add(disconnected, 4100*time.Millisecond)
	tl.add(disconnected, 5*time.Second)
	tl.extend(6500 * time.Millisecond)

	want := []Second{
		{Second: 0, Connects: 2},
		{Second: 1},
		{Second: 2, Disconnects: 2, HeldAnswers: 1},
		{Second: 3},
		{Second: 4, Disconnects: 2},
		{Second: 5, Disconnects: 1},
		{Second: 6},
	}
	if !reflect.DeepEqual(tl.seconds, want) {
		t.Errorf("seconds = %+v, want %+v", tl.seconds, want)
	}
	if want := (Second{Connects: 2, Disconnects: 5, HeldAnswers: 1}); tl.total != want {
		t.Errorf("total = %+v, want %+v", tl.total, want)
	}
	if got := tl.peakDisconnects(); got != want[2] {
		t.Errorf("peak = %+v, want the earliest of the busiest seconds, %+v", got, want[2])
	}
	if got := (&timeline{}).peakDisconnects(); got != (Second{}) {
		t.Errorf("peak of an empty timeline = %+v, want zero", got)
	}
}

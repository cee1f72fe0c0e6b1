package main

import (
	"strings"
	"testing"

	"github.com/stablering/stablering/cmd/stablering/loadgen"
)

// TestTableColumns checks the final table: two columns, and a third for StableRing with resume
// when it ran, each row with a value in every column.
func TestTableColumns(t *testing.T) {
	sr := &loadgen.Summary{Connections: 600, Rooms: 60}
	ip := &loadgen.Summary{Connections: 600, Rooms: 60, RoomsChangedOwner: 41}
	rs := &loadgen.Summary{Connections: 600, Rooms: 60}
	for _, c := range []struct {
		resume  *loadgen.Summary
		columns int
		header  string
	}{
		{nil, 3, "IP-keyed hashing"},
		{rs, 4, "StableRing with resume"},
	} {
		var b strings.Builder
		writeTable(&b, sr, ip, c.resume, 2, 6, 30)
		lines := strings.Split(strings.TrimSpace(b.String()), "\n")
		if !strings.HasSuffix(strings.TrimSpace(lines[2]), c.header) {
			t.Errorf("header %q does not end with %q", lines[2], c.header)
		}
		for _, line := range lines[2:] {
			if got := strings.Count(line, "|") + 1; got != c.columns {
				t.Errorf("%d columns in %q, want %d", got, line, c.columns)
			}
		}
		if !strings.Contains(b.String(), "41 of 60") {
			t.Errorf("the IP-keyed column lost its values:\n%s", b.String())
		}
	}
}

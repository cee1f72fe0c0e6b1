package procstat

import (
	"os"
	"testing"
	"time"
)

// TestOwnProcess reads this test's own process: its memory is megabytes, and its CPU time grows
// with work done.
func TestOwnProcess(t *testing.T) {
	pid := os.Getpid()
	rss, err := RSS(pid)
	if err != nil {
		t.Fatal(err)
	}
	if rss < 1<<20 || rss > 1<<34 {
		t.Errorf("RSS = %d bytes, want megabytes", rss)
	}
	before, err := CPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); time.Since(start) < 100*time.Millisecond; {
	}
	after, err := CPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	if after-before < 50*time.Millisecond {
		t.Errorf("CPU time grew by %s over 100 ms of spinning, want at least 50 ms", after-before)
	}
	if _, err := RSS(1 << 30); err == nil {
		t.Error("RSS of a pid that does not exist: no error")
	}
}

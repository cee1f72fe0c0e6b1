package tunnel

import "testing"

// TestLoopCount pins how many event loops a process runs: none with one processor, whose wait
// in epoll_wait would hold up every other goroutine, then one for every two, at most four.
func TestLoopCount(t *testing.T) {
	for procs, want := range map[int]int{1: 0, 2: 1, 3: 1, 4: 2, 8: 4, 64: 4} {
		if got := LoopCount(procs); got != want {
			t.Errorf("LoopCount(%d) = %d, want %d", procs, got, want)
		}
	}
}

package tunnel

import "testing"

// mode is a way tunnels run: as raw tunnels on an event loop, or on goroutines.
type mode struct {
	name string
	raw  bool
}

// set makes tunnels started until tb ends run in mode m.
func (m mode) set(tb testing.TB) {
	was := rawTunnels
	rawTunnels = m.raw
	tb.Cleanup(func() { rawTunnels = was })
}

// eachMode runs test once for every mode this system has.
func eachMode(t *testing.T, test func(t *testing.T)) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			m.set(t)
			test(t)
		})
	}
}

//go:build !linux

package tunnel

// poller is Linux's; elsewhere directions do not park and run on goroutines of their own.
type poller struct{}

// parkSpot is where a direction would park.
type parkSpot struct {
	p     *poller
	added bool
}

func pickPoller() *poller                 { return nil }
func (*poller) register(*direction)       {}
func (*poller) arm(*direction, bool) bool { return false }
func (*poller) forget(*direction)         {}

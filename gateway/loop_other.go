//go:build !linux

package gateway

// h1Loop is the HTTP event loop, which only Linux runs (loop_linux.go); elsewhere every
// connection stays on its goroutine.
type h1Loop struct{ done chan struct{} }

func (s *h1Server) startLoops(int)    {}
func (s *h1Server) lend(*h1Conn) bool { return false }
func (l *h1Loop) shutdown(bool)       {}

// Package bufpool is a pool of fixed-size byte buffers for the gateway's copy loops. Get and Put
// allocate nothing once the pool is warm (unlike a sync.Pool of slices), and the pool keeps at
// most a fixed number of idle buffers. A Pool implements net/http/httputil.BufferPool.
package bufpool

// Pool hands out buffers of one size. It is safe for concurrent use.
type Pool struct {
	size int
	free chan []byte
}

// New returns a pool of size-byte buffers that keeps up to keep idle buffers.
func New(size, keep int) *Pool {
	return &Pool{size: size, free: make(chan []byte, keep)}
}

// Get returns an idle buffer, or a new one when none is idle.
func (p *Pool) Get() []byte {
	select {
	case b := <-p.free:
		return b
	default:
		return make([]byte, p.size)
	}
}

// Put returns b to the pool. Buffers of another size, or beyond the idle limit, are dropped.
func (p *Pool) Put(b []byte) {
	if cap(b) != p.size {
		return
	}
	select {
	case p.free <- b[:p.size]:
	default:
	}
}

package resume

import "sync/atomic"

// Budget bounds the bytes that all the held connections of a gateway buffer together.
type Budget struct {
	limit int64
	used  atomic.Int64
}

// NewBudget returns a budget of limit bytes; 0 or less allows nothing to be buffered.
func NewBudget(limit int64) *Budget { return &Budget{limit: limit} }

// Take reserves n bytes and reports whether they fit; what did not fit is not reserved.
func (b *Budget) Take(n int) bool {
	if b.used.Add(int64(n)) > b.limit {
		b.used.Add(-int64(n))
		return false
	}
	return true
}

// Give returns n bytes taken before.
func (b *Budget) Give(n int) { b.used.Add(-int64(n)) }

// Used is the bytes reserved now.
func (b *Budget) Used() int64 { return b.used.Load() }

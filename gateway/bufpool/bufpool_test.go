package bufpool

import "testing"

func TestPool(t *testing.T) {
	p := New(8, 1)
	a := p.Get()
	if len(a) != 8 {
		t.Fatalf("buffer of %d bytes", len(a))
	}
	p.Put(a[:3]) // a resliced buffer comes back full length
	if b := p.Get(); &b[0] != &a[0] || len(b) != 8 {
		t.Fatal("the idle buffer was not reused")
	}
	p.Put(make([]byte, 4)) // another size is dropped
	p.Put(a)
	p.Put(make([]byte, 8)) // beyond the idle limit: dropped
	if b := p.Get(); &b[0] != &a[0] {
		t.Fatal("the first idle buffer should be kept")
	}
	if allocs := testing.AllocsPerRun(100, func() { p.Put(p.Get()) }); allocs != 0 {
		t.Fatalf("%v allocations per Get and Put", allocs)
	}
}

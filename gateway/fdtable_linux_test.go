package gateway

import "testing"

// TestFDTable checks that an HTTP loop's table finds what was set under each descriptor,
// nothing elsewhere, and keeps a page only while one of its descriptors is set.
func TestFDTable(t *testing.T) {
	var tab fdTable
	c1, c2, m := &loopConn{}, &loopConn{}, &memberConn{}
	tab.set(3, fdEntry{gen: 1, c: c1})
	tab.set(fdPageSize+7, fdEntry{gen: 2, m: m})
	tab.set(5*fdPageSize, fdEntry{gen: 3, c: c2})
	for fd, want := range map[int]fdEntry{
		3: {gen: 1, c: c1}, fdPageSize + 7: {gen: 2, m: m}, 5 * fdPageSize: {gen: 3, c: c2},
		0: {}, 4: {}, fdPageSize: {}, 2 * fdPageSize: {}, 100 * fdPageSize: {},
	} {
		if got := tab.get(fd); got != want {
			t.Errorf("get(%d) = %+v, want %+v", fd, got, want)
		}
	}
	tab.set(3, fdEntry{gen: 4, c: c2}) // a descriptor registered anew: still one entry of page 0
	tab.clear(3)
	if tab.pages[0] != nil {
		t.Errorf("page 0 kept after its only descriptor was cleared")
	}
	tab.clear(3)               // twice: nothing more happens
	tab.clear(fdPageSize + 8)  // never set, on a page in use
	tab.clear(50 * fdPageSize) // beyond the pages
	if got := tab.get(fdPageSize + 7); got.m != m {
		t.Errorf("clearing a neighbour lost descriptor %d's entry: %+v", fdPageSize+7, got)
	}
	tab.clear(fdPageSize + 7)
	tab.clear(5 * fdPageSize)
	for i, p := range tab.pages {
		if p != nil {
			t.Errorf("page %d kept with no descriptor set", i)
		}
	}
}

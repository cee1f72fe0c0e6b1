package gateway

// fdTable is an HTTP loop's entries by descriptor, in pages of fdPageSize entries: a page is
// made when a descriptor in its range registers and dropped when its last one leaves. A flat
// slice indexed by descriptor grows to the highest descriptor the loop ever saw and keeps it,
// 24 bytes a descriptor for each loop; the tunnels' sockets are among those descriptors, since a
// WebSocket whose head was not there at the first read passes through a loop, so every loop
// added about 48 bytes to every idle WebSocket (two descriptors). The pages cost one more
// index per event.
type fdTable struct {
	pages []*fdPage
}

// fdPageSize is how many descriptors a page of an fdTable covers.
const fdPageSize = 256

type fdPage struct {
	used    int // entries set
	entries [fdPageSize]fdEntry
}

// get returns fd's entry, the zero entry if none is set.
func (t *fdTable) get(fd int) fdEntry {
	if i := fd / fdPageSize; i < len(t.pages) && t.pages[i] != nil {
		return t.pages[i].entries[fd%fdPageSize]
	}
	return fdEntry{}
}

// set sets fd's entry, which is not the zero entry.
func (t *fdTable) set(fd int, e fdEntry) {
	i := fd / fdPageSize
	if i >= len(t.pages) {
		t.pages = append(t.pages, make([]*fdPage, i+1-len(t.pages))...)
	}
	p := t.pages[i]
	if p == nil {
		p = &fdPage{}
		t.pages[i] = p
	}
	if p.entries[fd%fdPageSize].empty() {
		p.used++
	}
	p.entries[fd%fdPageSize] = e
}

// clear drops fd's entry, if set, and its page with it when it was the last.
func (t *fdTable) clear(fd int) {
	i := fd / fdPageSize
	if i >= len(t.pages) {
		return
	}
	p := t.pages[i]
	if p == nil || p.entries[fd%fdPageSize].empty() {
		return
	}
	p.entries[fd%fdPageSize] = fdEntry{}
	if p.used--; p.used == 0 {
		t.pages[i] = nil
	}
}

// empty reports whether e is the zero entry: no connection.
func (e fdEntry) empty() bool { return e.c == nil && e.m == nil }

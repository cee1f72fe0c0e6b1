//go:build !unix

package peek

import "net"

// Writer cannot be had here: callers write and read the usual way.
type Writer struct{}

// NewWriter returns nil.
func NewWriter(net.Conn) *Writer { return nil }

// WriteThenWait is never called.
func (*Writer) WriteThenWait([]byte) (int, error) { return 0, nil }

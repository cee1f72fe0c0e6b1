// Package loopback gives tests both ends of a real TCP connection on 127.0.0.1.
package loopback

import (
	"net"
	"testing"
)

// Pair returns both ends of a loopback TCP connection: the dialled one and the accepted one.
// Both are closed when the test ends.
func Pair(tb testing.TB) (dialled, accepted net.Conn) {
	tb.Helper()
	return PairWith(tb, func(address string) (net.Conn, error) { return net.Dial("tcp", address) })
}

// PairWith is Pair with the dialled end made by dial, given the listener's address.
func PairWith(tb testing.TB, dial func(address string) (net.Conn, error)) (dialled, accepted net.Conn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return PairOn(tb, ln, dial)
}

// PairOn is PairWith with the accepted end accepted from ln, which it closes.
func PairOn(tb testing.TB, ln net.Listener, dial func(address string) (net.Conn, error)) (dialled, accepted net.Conn) {
	tb.Helper()
	defer func() { _ = ln.Close() }()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		ch <- c
	}()
	dialled, err := dial(ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	accepted = <-ch
	if accepted == nil {
		tb.Fatal("accept failed")
	}
	tb.Cleanup(func() { _ = dialled.Close(); _ = accepted.Close() })
	return dialled, accepted
}

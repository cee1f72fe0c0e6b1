// Package accept accepts the gateway's cleartext client connections as bare sockets, which
// Go's netpoller takes only when a read or write has to wait, and which a WebSocket tunnel's
// event loop can take as they are.
//
// Go's net package spends, on every connection it accepts, a registration in its netpoller
// (epoll_ctl), a query of the local address (getsockname) and TCP_NODELAY (setsockopt). A
// connection that a raw tunnel then takes (package tunnel) costs three more: the duplicate of
// its descriptor (fcntl), and the close of the original, which removes it from the netpoller
// (epoll_ctl) and closes it. A WebSocket handshake reads one request head that is usually
// there already (for about four upgrades in five under the benchmark's load) and writes one
// answer that fits the empty send buffer, so none of that waits.
// Here a connection is a bare non-blocking socket until a read finds nothing or a write cannot
// be taken whole; only then does it enter Go's netpoller (as an *os.File, which registers the
// descriptor itself without duplicating it), for the rest of its life. A tunnel takes a socket
// that never entered it with ReleaseSocket, and registers it once, on its loop. TCP_NODELAY is
// set once, on the listening socket, whose accepted connections inherit it on Linux
// (the gateway's TestAcceptedSocketOptions).
//
// A plain HTTP connection enters the netpoller at its first wait, usually the one for its
// second request, at two system calls (fcntl to see the descriptor is non-blocking, and
// epoll_ctl) against the three of Go's accept.
//
// Why code of our own: the libraries that accept sockets outside Go's net package are
// event-loop frameworks (gnet, cloudwego/netpoll) that serve every connection on their own
// loops, and would take over the HTTP path, TLS and net/http's server with it; here only the
// accept changes, and everything else keeps the net.Conn it had.
package accept

import "errors"

// ErrNotBare is Conn.ReadNow's error once the socket is in Go's netpoller, released or closed.
var ErrNotBare = errors.New("accept: the socket is not bare")

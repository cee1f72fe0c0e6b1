// Package sockopt sets the socket options the gateway sets on descriptors of its own: TCP
// keep-alive, on the listening socket (whose accepted connections inherit it) and on the
// member sockets the tunnels' event loop dials.
package sockopt

// Package sockopt makes and sets up the sockets the gateway handles itself, outside Go's net
// package: TCP keep-alive, on the listening socket (whose accepted connections inherit it) and
// on member sockets; and the non-blocking connects of the member sockets that the event loops
// (the tunnels' and the HTTP path's) dial.
package sockopt

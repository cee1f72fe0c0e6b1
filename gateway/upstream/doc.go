// Package upstream is the gateway's side of its members: per member address, the pool of
// keep-alive connections and the exchange of plain HTTP/1.1 requests over them, passive
// health (an address whose dial failed is unreachable for a while), a shared fallback
// transport for what the pool does not exchange itself, and a dialer that tells a member's
// failures from the gateway's own. Every phase of an exchange is bounded: the writes of a
// request, the member's first byte and each later read.
package upstream

package gateway

import (
	"net"
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// hopByHop are the headers that describe one connection, not the message (RFC 9110 section
// 7.6.1, plus the de facto Proxy-Connection and Keep-Alive).
var hopByHop = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// isUpgrade reports whether r asks to switch protocols (WebSocket or another), which the
// gateway splices instead of proxying. HTTP/2 requests cannot upgrade this way.
func isUpgrade(r *http.Request) bool {
	return r.ProtoMajor == 1 && r.Header["Upgrade"] != nil &&
		httpguts.HeaderValuesContainsToken(r.Header["Connection"], "upgrade")
}

// isWebSocket reports whether the upgrade r asks for is a WebSocket.
func isWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// removeHopByHop deletes the hop-by-hop headers of h, including those its Connection header
// names.
func removeHopByHop(h http.Header) {
	for _, v := range h["Connection"] {
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopByHop {
		delete(h, name)
	}
}

// upgradeHeader returns the header of an upgrade request or response: h without hop-by-hop
// headers, plus Connection: Upgrade and the Upgrade protocol.
func upgradeHeader(h http.Header, protocol string) http.Header {
	out := h.Clone()
	removeHopByHop(out)
	out["Connection"] = []string{"Upgrade"}
	out["Upgrade"] = []string{protocol}
	return out
}

// forwardedHeaders are the client-supplied forwarding headers a request loses unless trusted.
var forwardedHeaders = []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"}

// setForwarded sets X-Forwarded-For, -Host and -Proto on out for the inbound request in. With
// trust, the client's own values are kept and its X-Forwarded-For is appended to; without, they
// are replaced.
func setForwarded(out http.Header, in *http.Request, trust bool) {
	for _, name := range forwardedHeaders {
		if !trust {
			delete(out, name)
		} else if v := in.Header[name]; v != nil {
			out[name] = v
		}
	}
	// One backing array for the two new values: a single allocation per request.
	values := make([]string, 2)
	if ip, _, err := net.SplitHostPort(in.RemoteAddr); err == nil {
		if prior := out["X-Forwarded-For"]; len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		values[0] = ip
		out["X-Forwarded-For"] = values[0:1:1]
	}
	if out["X-Forwarded-Host"] == nil {
		values[1] = in.Host
		out["X-Forwarded-Host"] = values[1:2:2]
	}
	if out["X-Forwarded-Proto"] == nil {
		out["X-Forwarded-Proto"] = protoValues(in)
	}
}

// Shared X-Forwarded-Proto values; header writers only read them.
var (
	protoHTTP  = []string{"http"}
	protoHTTPS = []string{"https"}
)

func protoValues(r *http.Request) []string {
	if r.TLS != nil {
		return protoHTTPS
	}
	return protoHTTP
}

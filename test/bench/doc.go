// Package bench is the benchmark harness that measures StableRing's gateway side by side with
// nginx and HAProxy doing consistent hashing on the same backends, and with a direct connection
// as the physical limit. hack/bench.sh (make bench) drives it and writes docs/benchmarks.md.
//
// The package holds what the harness's commands share: the proxy configuration templates,
// the open-loop load schedule, latency summaries, result types and the wrk output parser.
// The commands are:
//
//	cmd/backend      an HTTP and WebSocket echo backend
//	cmd/httpload     an open-loop (constant rate) HTTP load generator
//	cmd/wsbench      WebSocket upgrade rate, idle-connection memory and message round trip
//	cmd/benchrun     runs every figure against every target and writes the report
package bench

//go:build unix

package gateway

import "syscall"

// defaultMaxConnections is half the open-files limit (which the Go runtime raises to the hard
// limit at start): a proxied connection needs one descriptor for the client and one for its
// member, and pooled member connections and the admin port need a few more.
func defaultMaxConnections() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur < 64 {
		return fallbackMaxConnections
	}
	return int(min(lim.Cur/2, 1<<20))
}

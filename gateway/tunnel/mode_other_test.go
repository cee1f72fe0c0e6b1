//go:build !linux

package tunnel

var modes = []mode{{"goroutines", false}}

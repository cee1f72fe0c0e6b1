//go:build !linux

package tunnel

var modes = []mode{{name: "goroutines"}}

//go:build !unix

package gateway

// defaultMaxConnections is a fixed cap where the open-files limit cannot be read.
func defaultMaxConnections() int { return fallbackMaxConnections }

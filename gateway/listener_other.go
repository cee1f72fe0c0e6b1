//go:build !linux

package gateway

import "net"

// listenConfig sets the client connections' TCP keep-alive on each accepted connection.
func listenConfig() net.ListenConfig { return net.ListenConfig{KeepAliveConfig: tcpKeepAlive} }

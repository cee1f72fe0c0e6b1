//go:build unix

package tunnel

import (
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/stablering/stablering/gateway/bufpool"
	"github.com/stablering/stablering/gateway/internal/loopback"
	"github.com/stablering/stablering/gateway/wsframe"
)

// BenchmarkEcho sends a small WebSocket message from the client through the tunnel to a
// backend that echoes it, and reads the echo: one op is a message each way. cpu-ns/op is the
// process's CPU time (user and system, the test's own ends included) per op.
func BenchmarkEcho(b *testing.B) {
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			m.set(b)
			benchmarkEcho(b)
		})
	}
}

func benchmarkEcho(b *testing.B) {
	clientEnd, gwClient := loopback.Pair(b)
	backendEnd, gwBackend := loopback.Pair(b)
	opts := Options{WebSocket: true, Pool: bufpool.New(32<<10, 64), CloseGrace: time.Second,
		SendTimeout: time.Second}
	tun := New(gwClient, gwBackend, opts)
	go tun.Run()
	defer tun.Kill()
	go func() { _, _ = io.Copy(backendEnd, backendEnd) }()

	msg := frame(wsframe.OpBinary, true, make([]byte, 64))
	echo := make([]byte, len(msg))
	b.ReportAllocs()
	start := cpuTime()
	b.ResetTimer()
	for range b.N {
		if _, err := clientEnd.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(clientEnd, echo); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

// cpuTime returns the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

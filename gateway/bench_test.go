package gateway_test

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/stablering/stablering/gateway"
	"github.com/stablering/stablering/gateway/resolved"
)

// Benchmarks of the gateway over loopback, with clients and members in the same process.
// Allocations and memory of the whole process are measured, so each benchmark that goes
// through the gateway has a Direct twin (client to member without the gateway); the gateway's
// share is the difference. Run with
//
//	go test ./gateway -run '^$' -bench . -benchtime 3s
//
// and BenchmarkIdleWebSocketMemory with -benchtime 1x.

// okBackend is a member that answers "ok" to plain requests and accepts WebSockets.
func okBackend(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ok := []byte("ok")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "" {
			_, _ = w.Write(ok)
			return
		}
		c, err := websocket.Accept(w, r, nil)
		if err == nil {
			_, _, _ = c.Read(context.Background())
			_ = c.CloseNow()
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// benchGateway starts a gateway routing ring "bench" over three members.
func benchGateway(b *testing.B) (*harness, []string) {
	addrs := []string{okBackend(b), okBackend(b), okBackend(b)}
	bs := make([]*backend, len(addrs))
	for i, a := range addrs {
		bs[i] = &backend{ordinal: int32(i), addr: a}
	}
	opts := gateway.Options{ShutdownWindow: 100 * time.Millisecond, MaxIdleConnsPerMember: 256}
	h := startGateway(b, opts)
	h.g.Update([]resolved.Ring{newRing("bench", bs)})
	return h, addrs
}

func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}}
}

// runHTTP sends GETs to url (a different room each) from parallel clients.
func runHTTP(b *testing.B, url string) {
	client := benchClient()
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 64)
		for pb.Next() {
			resp, err := client.Get(fmt.Sprintf("%s?room=room-%d", url, n.Add(1)%1000))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.CopyBuffer(io.Discard, resp.Body, buf)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}

// BenchmarkProxyHTTP measures plain requests through the gateway.
func BenchmarkProxyHTTP(b *testing.B) {
	h, _ := benchGateway(b)
	runHTTP(b, h.url+"/x")
}

// BenchmarkDirectHTTP is BenchmarkProxyHTTP without the gateway.
func BenchmarkDirectHTTP(b *testing.B) {
	_, addrs := benchGateway(b)
	runHTTP(b, "http://"+addrs[0]+"/x")
}

// runUpgrades opens and closes WebSockets to url from parallel clients.
func runUpgrades(b *testing.B, url string) {
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			// coder/websocket: "You never need to close resp.Body yourself."
			c, _, err := websocket.Dial(ctx, fmt.Sprintf("%s?room=room-%d", url, n.Add(1)), nil) //nolint:bodyclose
			cancel()
			if err != nil {
				b.Error(err)
				return
			}
			_ = c.CloseNow()
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "upgrades/s")
}

// BenchmarkProxyUpgrade measures WebSocket handshakes through the gateway.
func BenchmarkProxyUpgrade(b *testing.B) {
	h, _ := benchGateway(b)
	runUpgrades(b, "ws://"+h.host+"/ws")
}

// BenchmarkDirectUpgrade is BenchmarkProxyUpgrade without the gateway.
func BenchmarkDirectUpgrade(b *testing.B) {
	_, addrs := benchGateway(b)
	runUpgrades(b, "ws://"+addrs[0]+"/ws")
}

// BenchmarkIdleWebSocketMemory opens 1000 idle WebSockets directly, then 1000 through the
// gateway, with minimal clients and members that hold their connections without goroutines,
// and reports the gateway's heap and goroutine stack bytes per idle WebSocket.
func BenchmarkIdleWebSocketMemory(b *testing.B) {
	const n = 1000
	member := newParkingMember(b)
	h := startGateway(b, gateway.Options{ShutdownWindow: 100 * time.Millisecond})
	h.g.Update([]resolved.Ring{newRing("idle", []*backend{{ordinal: 0, addr: member.addr}})})
	for range b.N {
		direct := measureIdle(b, member.addr, n)
		member.closeAll()
		through := measureIdle(b, h.host, n)
		member.closeAll()
		b.ReportMetric(direct.bytes/n, "direct-bytes/conn")
		b.ReportMetric(through.bytes/n, "total-bytes/conn")
		b.ReportMetric((through.bytes-direct.bytes)/n, "gateway-bytes/conn")
		b.ReportMetric(float64(through.goroutines-direct.goroutines)/n, "gateway-goroutines/conn")
	}
}

type usage struct {
	bytes      float64
	goroutines int
}

func memoryInUse() (float64, int) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapInuse + ms.StackInuse), runtime.NumGoroutine()
}

// measureIdle opens n idle WebSockets to addr and returns the memory and goroutines they add.
func measureIdle(b *testing.B, addr string, n int) usage {
	beforeBytes, beforeG := memoryInUse()
	conns := make([]net.Conn, 0, n)
	for i := range n {
		conns = append(conns, rawWebSocket(b, addr, fmt.Sprintf("room-%d", i)))
	}
	time.Sleep(200 * time.Millisecond) // let the gateway register the tunnels
	afterBytes, afterG := memoryInUse()
	for _, c := range conns {
		_ = c.Close()
	}
	time.Sleep(200 * time.Millisecond)
	return usage{bytes: afterBytes - beforeBytes, goroutines: afterG - beforeG}
}

// rawWebSocket performs a WebSocket handshake by hand and returns the idle connection.
func rawWebSocket(b *testing.B, addr, room string) net.Conn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(c, "GET /ws?room=%s HTTP/1.1\r\nHost: idle\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", room)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		b.Fatal(err)
	}
	_ = resp.Body.Close() // a 101 has no body
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b.Fatalf("handshake: %s", resp.Status)
	}
	return c
}

// parkingMember accepts WebSocket handshakes and keeps the connections without goroutines.
type parkingMember struct {
	addr  string
	mu    sync.Mutex
	conns []net.Conn
}

func newParkingMember(b *testing.B) *parkingMember {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = ln.Close() })
	m := &parkingMember{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go m.handshake(c)
		}
	}()
	return m
}

func (m *parkingMember) handshake(c net.Conn) {
	req, err := http.ReadRequest(bufio.NewReader(c))
	if err != nil {
		_ = c.Close()
		return
	}
	sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Accept: %s\r\n\r\n", base64.StdEncoding.EncodeToString(sum[:]))
	m.mu.Lock()
	m.conns = append(m.conns, c)
	m.mu.Unlock()
}

func (m *parkingMember) closeAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.conns {
		_ = c.Close()
	}
	m.conns = nil
}

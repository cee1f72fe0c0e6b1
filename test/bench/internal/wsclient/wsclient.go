// Package wsclient is a minimal WebSocket client (RFC 6455) for load generation: the opening
// handshake over a plain TCP connection and masked single-frame messages, without the
// goroutines and per-message allocations of a general-purpose library, so that the load
// generator leaves as much CPU as possible to the proxies being measured.
package wsclient

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/stablering/stablering/test/bench"
)

// acceptGUID is the RFC 6455 constant of the Sec-WebSocket-Accept computation.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// Frame opcodes.
const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
)

// Conn is a client WebSocket connection. It is not safe for concurrent use.
type Conn struct {
	conn net.Conn
	br   *bufio.Reader
	mask [4]byte
	wbuf []byte
}

// Dial connects from the local address local (nil picks one) to addr and performs the
// opening handshake for path, sending host as the Host header. The handshake must complete
// within timeout. An answer other than 101 is a *bench.StatusError.
func Dial(ctx context.Context, local net.IP, addr, host, path string, timeout time.Duration) (*Conn, error) {
	d := net.Dialer{Timeout: timeout}
	if local != nil {
		d.LocalAddr = &net.TCPAddr{IP: local}
		d.Control = bindNoPort
	}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &Conn{conn: conn, br: bufio.NewReaderSize(conn, 4<<10)}
	if err := c.handshake(host, path, timeout); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return c, nil
}

func (c *Conn) handshake(host, path string, timeout time.Duration) error {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	_, _ = rand.Read(c.mask[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	if err := c.conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	req := "GET " + path + " HTTP/1.1\r\nHost: " + host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " +
		key + "\r\n\r\n"
	if _, err := io.WriteString(c.conn, req); err != nil {
		return err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return &bench.StatusError{Code: resp.StatusCode}
	}
	sum := sha1.Sum([]byte(key + acceptGUID))
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != base64.StdEncoding.EncodeToString(sum[:]) {
		return fmt.Errorf("bad Sec-WebSocket-Accept %q", got)
	}
	return c.conn.SetDeadline(time.Time{})
}

// SetDeadline sets the deadline of reads and writes.
func (c *Conn) SetDeadline(t time.Time) error { return c.conn.SetDeadline(t) }

// WriteText sends p as one masked text frame.
func (c *Conn) WriteText(p []byte) error {
	b := c.wbuf[:0]
	b = append(b, 0x80|opText)
	switch n := len(p); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xFFFF:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, c.mask[:]...)
	for i, v := range p {
		b = append(b, v^c.mask[i&3])
	}
	c.wbuf = b
	_, err := c.conn.Write(b)
	return err
}

// ReadMessage reads the next data frame into buf (growing it as needed) and returns its
// payload. Pings and pongs are skipped; a close frame is io.EOF. Messages must be unfragmented.
func (c *Conn) ReadMessage(buf []byte) ([]byte, error) {
	for {
		var hdr [8]byte
		if _, err := io.ReadFull(c.br, hdr[:2]); err != nil {
			return nil, err
		}
		if hdr[0]&0x80 == 0 {
			return nil, errors.New("fragmented message")
		}
		op := hdr[0] & 0x0F
		if hdr[1]&0x80 != 0 {
			return nil, errors.New("masked frame from the server")
		}
		n := uint64(hdr[1] & 0x7F)
		switch n {
		case 126:
			if _, err := io.ReadFull(c.br, hdr[:2]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(hdr[:2]))
		case 127:
			if _, err := io.ReadFull(c.br, hdr[:8]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(hdr[:8])
		}
		if n > 1<<20 {
			return nil, fmt.Errorf("frame of %d bytes", n)
		}
		if uint64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(c.br, buf); err != nil {
			return nil, err
		}
		switch op {
		case opPing, opPong:
			continue
		case opClose:
			return nil, io.EOF
		default:
			return buf, nil
		}
	}
}

// Close closes the TCP connection without a closing handshake.
func (c *Conn) Close() error { return c.conn.Close() }

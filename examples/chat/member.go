package main

import (
	"context"
	"sync"
	"time"

	"github.com/coder/websocket"
)

const (
	// queueLength is how many messages may wait for a member's connection. A member whose queue
	// is full is too slow to keep up with its room and is disconnected.
	queueLength = 256
	// writeTimeout bounds the write of one message.
	writeTimeout = 10 * time.Second
)

// member is one WebSocket connection in a room. The room queues messages for it; its own
// goroutine writes them, so a slow client never holds up the room.
type member struct {
	id   string
	room string
	out  chan []byte

	stopOnce   sync.Once
	stopped    chan struct{} // closed by stop
	stopCode   websocket.StatusCode
	stopReason string
}

func newMember(id, room string) *member {
	return &member{id: id, room: room, out: make(chan []byte, queueLength), stopped: make(chan struct{})}
}

// send queues data without blocking, and disconnects the member when its queue is full.
func (m *member) send(data []byte) {
	select {
	case m.out <- data:
	default:
		m.stop(websocket.StatusPolicyViolation, "too slow")
	}
}

// stop asks the member's writer to deliver the queued messages and close the connection with
// code. Only the first call counts.
func (m *member) stop(code websocket.StatusCode, reason string) {
	m.stopOnce.Do(func() {
		m.stopCode, m.stopReason = code, reason
		close(m.stopped)
	})
}

// writeMessages writes queued messages to conn until stop is called, the reader ends or a write
// fails.
func (m *member) writeMessages(ctx context.Context, conn *websocket.Conn, readerDone <-chan struct{}) {
	for {
		select {
		case data := <-m.out:
			if write(ctx, conn, data) != nil {
				return
			}
		case <-m.stopped:
			m.flush(ctx, conn)
			_ = conn.Close(m.stopCode, m.stopReason)
			return
		case <-readerDone:
			return
		}
	}
}

// flush writes the messages already queued.
func (m *member) flush(ctx context.Context, conn *websocket.Conn) {
	for {
		select {
		case data := <-m.out:
			if write(ctx, conn, data) != nil {
				return
			}
		default:
			return
		}
	}
}

func write(ctx context.Context, conn *websocket.Conn, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	return conn.Write(ctx, websocket.MessageText, data)
}

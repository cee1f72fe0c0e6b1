package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/stablering/stablering/internal/sleep"
)

const (
	// handshakeTimeout bounds a connection attempt: the WebSocket handshake and the welcome.
	handshakeTimeout = 10 * time.Second
	// writeTimeout bounds the write of one message.
	writeTimeout = 10 * time.Second
)

// serverMessage is the part of the chat example's messages the load generator reads. The
// example's own types are not imported: a load generator speaks the protocol, like any client.
type serverMessage struct {
	Type string `json:"type"` // "welcome" or "message"
	Pod  string `json:"pod"`
	Text string `json:"text"`
}

// heldError is a 503 answer to a connection attempt.
type heldError struct {
	retryAfter time.Duration
}

func (e *heldError) Error() string {
	return fmt.Sprintf("held: 503 with Retry-After %v", e.retryAfter)
}

// client is one simulated connection. Its goroutine connects, reconnects after every
// disconnect and, while connected, a second goroutine sends its messages.
type client struct {
	cfg     *Config
	rec     *recorder
	url     string
	token   string // prefix of the client's message texts, unique to the run and the client
	backoff *backoff
	record  ClientRecord

	mu     sync.Mutex // guards echoes, shared by the reading and the sending goroutine
	echoes *echoTracker
	nextID uint64 // used by the sending goroutine only
}

func newClient(cfg *Config, rec *recorder, index int, room, url, runID string) *client {
	return &client{
		cfg:     cfg,
		rec:     rec,
		url:     url,
		token:   fmt.Sprintf("loadgen %s/%d #", runID, index),
		backoff: newBackoff(cfg.BackoffMin, cfg.BackoffMax),
		record:  ClientRecord{Index: index, Room: room},
		echoes:  newEchoTracker(cfg.EchoTimeout),
	}
}

// run keeps the connection up until ctx is done, after waiting start, and fills in the record.
func (c *client) run(ctx context.Context, start time.Duration) {
	defer c.closeBooks()
	if !sleep.For(ctx, start) {
		return
	}
	for {
		var delay time.Duration
		var held *heldError
		conn, pod, err := c.connect(ctx)
		switch {
		case err == nil:
			c.backoff.reset()
			c.session(ctx, conn, pod)
			delay = c.backoff.next()
		case errors.As(err, &held):
			c.record.HeldAnswers++
			c.rec.heldAnswer()
			delay = held.retryAfter + c.backoff.next() // at least Retry-After, jittered
		default:
			c.rec.connectFailed(err)
			delay = c.backoff.next()
		}
		if !sleep.For(ctx, delay) {
			return
		}
	}
}

// closeBooks copies the message counts into the record.
func (c *client) closeBooks() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.record.Messages = MessageStats{Sent: c.echoes.sent, Lost: c.echoes.lost, Unconfirmed: c.echoes.unconfirmed}
}

// connect dials and reads the welcome. It returns the connection and the pod that welcomed it.
func (c *client) connect(ctx context.Context) (*websocket.Conn, string, error) {
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	//nolint:bodyclose // Dial takes care of the body: nil after an upgrade, already read otherwise
	conn, resp, err := websocket.Dial(ctx, c.url, &websocket.DialOptions{Host: c.cfg.Host})
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusServiceUnavailable {
			return nil, "", &heldError{retryAfter: retryAfter(resp.Header, time.Now())}
		}
		return nil, "", err
	}
	_, data, err := conn.Read(ctx)
	var welcome serverMessage
	if err == nil {
		err = json.Unmarshal(data, &welcome)
	}
	if err == nil && (welcome.Type != "welcome" || welcome.Pod == "") {
		err = fmt.Errorf("first message %.100q is not a welcome naming the pod", data)
	}
	if err != nil {
		_ = conn.CloseNow()
		return nil, "", err
	}
	return conn, welcome.Pod, nil
}

// session serves one connection until the server ends it or ctx is done; then the load
// generator closes it with status 1000.
func (c *client) session(ctx context.Context, conn *websocket.Conn, pod string) {
	defer func() { _ = conn.CloseNow() }()
	at, ok := c.rec.connected(c.record.Room, pod)
	if !ok {
		return
	}
	c.record.visit(pod, at)
	stopClosing := context.AfterFunc(ctx, func() {
		_ = conn.Close(websocket.StatusNormalClosure, "load generator done")
	})
	defer stopClosing()

	sendCtx, stopSending := context.WithCancel(ctx)
	var sender sync.WaitGroup
	if c.cfg.MessageInterval > 0 {
		sender.Go(func() { c.send(sendCtx, conn) })
	}
	c.receive(conn)
	stopSending()
	sender.Wait()

	c.rec.disconnected(c.record.Room, pod)
	c.mu.Lock()
	lost := c.echoes.end(c.rec.now())
	c.mu.Unlock()
	c.rec.messagesLost.Add(int64(lost))
}

// receive reads messages until the connection ends and checks off the echoes of the client's
// own messages.
func (c *client) receive(conn *websocket.Conn) {
	token := []byte(c.token)
	var buf bytes.Buffer // reused: most messages are read, found to be someone else's, and dropped
	for {
		_, r, err := conn.Reader(context.Background())
		if err != nil {
			return
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			return
		}
		if bytes.Contains(buf.Bytes(), token) {
			c.checkEcho(buf.Bytes())
		}
	}
}

// checkEcho records the echo of one of the client's messages.
func (c *client) checkEcho(data []byte) {
	var m serverMessage
	if json.Unmarshal(data, &m) != nil {
		return
	}
	id, ok := strings.CutPrefix(m.Text, c.token)
	if n, err := strconv.ParseUint(id, 10, 64); ok && err == nil {
		c.mu.Lock()
		c.echoes.echo(n)
		c.mu.Unlock()
	}
}

// send sends a message every message interval, at a random phase, until ctx is done or a write
// fails.
func (c *client) send(ctx context.Context, conn *websocket.Conn) {
	interval := c.cfg.MessageInterval
	timer := time.NewTimer(rand.N(interval))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if c.sendOne(ctx, conn) != nil {
			return
		}
		timer.Reset(interval)
	}
}

// sendOne sends the next message, recording it first so that its echo cannot arrive unknown.
func (c *client) sendOne(ctx context.Context, conn *websocket.Conn) error {
	c.nextID++
	id := c.nextID
	c.mu.Lock()
	lost := c.echoes.send(id, c.rec.now())
	c.mu.Unlock()
	c.rec.messagesLost.Add(int64(lost))

	// The write gets its own deadline and ignores ctx: cancelling a write in flight would tear
	// the connection down without a close frame.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	if err := conn.Write(wctx, websocket.MessageText, []byte(c.token+strconv.FormatUint(id, 10))); err != nil {
		c.mu.Lock()
		c.echoes.unsend(id)
		c.mu.Unlock()
		return err
	}
	c.rec.messagesSent.Add(1)
	return nil
}

package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/stablering/stablering/gateway/resolved"
)

// TestManyClientsAtOnce has clients of three kinds use the gateway at the same time: some send
// requests one after the other on a keep-alive connection, some pipeline them, some open
// WebSockets and echo a message. Each request carries its client's mark, and every answer must
// reach the client that asked, in order, within 5 s. An answer that goes astray fails it, and
// so does a lost wake-up, which leaves a request unanswered; both show only when many
// connections are served at once.
func TestManyClientsAtOnce(t *testing.T) {
	h := startGateway(t, testOptions(t))
	h.g.Update([]resolved.Ring{newRing("mix", newBackends(t, 3))})
	const clients, requests = 24, 40
	kinds := []func(h *harness, id, n int) error{keepAliveClient, pipeliningClient, webSocketClient}
	errs := make(chan error, clients)
	for id := range clients {
		run := kinds[id%len(kinds)]
		go func() { errs <- run(h, id, requests) }()
	}
	for range clients {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// keepAliveClient sends n requests one after the other on one connection.
func keepAliveClient(h *harness, id, n int) error {
	c, br, err := connect(h)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	for j := range n {
		uri := markedURI(id, j)
		if _, err := io.WriteString(c, "GET "+uri+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return err
		}
		if err := expectAnswer(c, br, uri); err != nil {
			return fmt.Errorf("keep-alive client %d, request %d: %w", id, j, err)
		}
	}
	return nil
}

// pipeliningClient sends its n requests two at a time on one connection: in one write, or in
// two with a pause between them so that the second arrives while the gateway serves the first.
func pipeliningClient(h *harness, id, n int) error {
	c, br, err := connect(h)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	for j := 0; j+1 < n; j += 2 {
		first, second := markedURI(id, j), markedURI(id, j+1)
		heads := []string{"GET " + first + " HTTP/1.1\r\nHost: x\r\n\r\n", "GET " + second + " HTTP/1.1\r\nHost: x\r\n\r\n"}
		if j%4 == 0 {
			heads = []string{strings.Join(heads, "")}
		}
		for k, head := range heads {
			if k > 0 {
				time.Sleep(time.Millisecond)
			}
			if _, err := io.WriteString(c, head); err != nil {
				return err
			}
		}
		for _, uri := range []string{first, second} {
			if err := expectAnswer(c, br, uri); err != nil {
				return fmt.Errorf("pipelining client %d, request %s: %w", id, uri, err)
			}
		}
	}
	return nil
}

// webSocketClient opens n/4 WebSockets one after the other and echoes a marked message on
// each.
func webSocketClient(h *harness, id, n int) error {
	for j := range n / 4 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		w, resp, err := dialWS(ctx, h, fmt.Sprintf("c%d-%d", id, j))
		cancel()
		if err != nil {
			return fmt.Errorf("WebSocket client %d, connection %d: %w (answer %s)", id, j, err, status(resp))
		}
		err = w.echo(fmt.Sprintf("client %d, message %d", id, j))
		_ = w.conn.Close(websocket.StatusNormalClosure, "")
		if err != nil {
			return fmt.Errorf("WebSocket client %d, connection %d: %w", id, j, err)
		}
	}
	return nil
}

// connect opens a connection to the gateway, and its reader.
func connect(h *harness) (net.Conn, *bufio.Reader, error) {
	c, err := net.Dial("tcp", h.host)
	if err != nil {
		return nil, nil, err
	}
	return c, bufio.NewReader(c), nil
}

// markedURI is request j of client id, with a room key of its own.
func markedURI(id, j int) string {
	return fmt.Sprintf("/client-%d/request-%d?room=c%d-%d", id, j, id, j)
}

// expectAnswer reads one answer within 5 s and checks that the member answered uri.
func expectAnswer(c net.Conn, br *bufio.Reader, uri string) error {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	var e echoed
	err = json.NewDecoder(resp.Body).Decode(&e)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	switch {
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("answer %s", resp.Status)
	case err != nil:
		return fmt.Errorf("answer's body: %w", err)
	case e.URI != uri:
		return fmt.Errorf("the answer to %s reached the client that asked for %s", e.URI, uri)
	}
	return nil
}

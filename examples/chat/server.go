package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/stablering/stablering/gateway/resume"
)

const (
	// maxRoomKeyBytes bounds the room key so that a client cannot make the server keep
	// arbitrarily large keys in memory.
	maxRoomKeyBytes = 256
	// maxMessageBytes is the largest text message a client may send.
	maxMessageBytes = 4 << 10
	// closeTimeout bounds the close handshakes that follow the shutdown window.
	closeTimeout = 5 * time.Second
)

// server is the chat service: its HTTP handlers and its rooms.
type server struct {
	pod     string
	log     *slog.Logger
	hub     *hub
	ready   atomic.Bool
	clients atomic.Uint64 // numbers the client ids
}

func newServer(pod string, log *slog.Logger) *server {
	s := &server{pod: pod, log: log, hub: newHub(pod)}
	s.ready.Store(true)
	return s
}

// run listens on cfg.listen and serves until ctx is done, then shuts down gracefully.
func run(ctx context.Context, cfg config, log *slog.Logger) error {
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return err
	}
	s := newServer(cfg.pod, log)
	if cfg.stateDir == "" {
		return s.serve(ctx, ln, cfg.shutdownWindow)
	}
	state := filepath.Join(cfg.stateDir, cfg.pod+".json")
	if err := s.restore(state); err != nil {
		return err
	}
	if err := s.serve(ctx, ln, cfg.shutdownWindow); err != nil {
		return err
	}
	return s.save(state)
}

// restore reads the rooms a predecessor saved in path, if any, and removes the file, so that
// a pod that crashes later cannot pass on stale rooms. The hub keeps empty rooms from now on.
func (s *server) restore(path string) error {
	s.hub.keep = true
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	if err := s.hub.restore(f); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	s.log.Info("restored rooms", "file", path, "rooms", len(s.hub.list()))
	return os.Remove(path)
}

// save writes the rooms to path for the next pod, through a temporary file renamed into place.
func (s *server) save(path string) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	err = errors.Join(s.hub.save(f), f.Close())
	if err == nil {
		err = os.Rename(tmp, path)
	}
	return err
}

// serve answers on ln until ctx is done. Then it stops being ready, closes every WebSocket
// spread over window, stops the HTTP server and returns nil.
func (s *server) serve(ctx context.Context, ln net.Listener, window time.Duration) error {
	srv := &http.Server{Handler: s.routes(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	s.log.Info("listening", "addr", ln.Addr().String())

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}

	start := time.Now()
	s.ready.Store(false)
	s.log.Info("shutting down", "window", window.String())
	drainCtx, cancel := context.WithTimeout(context.Background(), window+closeTimeout)
	defer cancel()
	closed, err := s.hub.drain(drainCtx, window)
	if err != nil {
		s.log.Warn("some WebSockets did not finish closing", "err", err)
	}
	if err := srv.Shutdown(drainCtx); err != nil {
		s.log.Warn("HTTP server did not shut down cleanly", "err", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		s.log.Warn("HTTP server failed while shutting down", "err", err)
	}
	s.log.Info("shut down", "websockets", closed, "took", time.Since(start).String())
	return nil
}

// routes returns the service's HTTP handler.
func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", s.handleWebSocket)
	mux.HandleFunc("GET /rooms/{room}/ws", s.handleWebSocket)
	mux.HandleFunc("GET /rooms", s.handleRooms)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", s.handleReady)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "chat pod %s\n", s.pod)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Served-By", s.pod)
		mux.ServeHTTP(w, r)
	})
}

func (s *server) handleReady(w http.ResponseWriter, _ *http.Request) {
	if !s.ready.Load() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

func (s *server) handleRooms(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(roomList{Pod: s.pod, Rooms: s.hub.list()})
}

// roomKey returns the request's room: the {room} path segment, else the room query parameter.
func roomKey(r *http.Request) (string, error) {
	room := r.PathValue("room")
	if room == "" {
		room = r.URL.Query().Get("room")
	}
	switch {
	case room == "":
		return "", errors.New("no room: use /ws?room=NAME or /rooms/NAME/ws")
	case len(room) > maxRoomKeyBytes:
		return "", fmt.Errorf("room key longer than %d bytes", maxRoomKeyBytes)
	}
	return room, nil
}

// handleWebSocket upgrades the request, joins the room and serves the member until either side
// closes the connection.
func (s *server) handleWebSocket(w http.ResponseWriter, r *http.Request) {
	room, err := roomKey(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if !s.ready.Load() {
		refuse(w)
		return
	}
	m, err := s.enter(w, r, room)
	if err != nil {
		refuse(w)
		return
	}
	defer s.hub.leave(m)
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept has answered the request
	}
	conn.SetReadLimit(maxMessageBytes)
	s.log.Debug("joined", "room", room, "client", m.id)

	ctx := r.Context()
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		s.readMessages(ctx, conn, m)
	}()
	m.writeMessages(ctx, conn, readerDone)
	_ = conn.CloseNow()
	<-readerDone
	s.log.Debug("left", "room", room, "client", m.id)
}

// enter joins the room, or rejoins it for a connection the gateway resumes, before the
// handshake's answer: a resumable connection's token (in that answer) holds the seq of its
// welcome and its client id, and a resume's count of messages the client received tells from
// them the last seq it saw.
func (s *server) enter(w http.ResponseWriter, r *http.Request, room string) (*member, error) {
	if token := r.Header.Get(resume.HeaderResume); token != "" {
		welcomed, id, ok := parseToken(token)
		got, err := strconv.ParseUint(r.Header.Get(resume.HeaderMemberMessages), 10, 64)
		if !ok || err != nil || got == 0 {
			return nil, errMissed
		}
		m := newMember(id, room)
		w.Header().Set(resume.HeaderToken, token)
		return m, s.hub.rejoin(m, welcomed+got-1)
	}
	m := newMember("c"+strconv.FormatUint(s.clients.Add(1), 10), room)
	seq, err := s.hub.join(m)
	if err == nil && r.Header.Get(resume.HeaderResumable) != "" {
		w.Header().Set(resume.HeaderToken, strconv.FormatUint(seq, 10)+"."+m.id)
	}
	return m, err
}

// parseToken reads a token of enter: the welcome's seq and the client id.
func parseToken(token string) (uint64, string, bool) {
	seq, id, ok := strings.Cut(token, ".")
	n, err := strconv.ParseUint(seq, 10, 64)
	return n, id, ok && err == nil && id != ""
}

// refuse answers a WebSocket request that arrives during shutdown.
func refuse(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	http.Error(w, "shutting down", http.StatusServiceUnavailable)
}

// readMessages broadcasts every text message m sends until the connection ends.
func (s *server) readMessages(ctx context.Context, conn *websocket.Conn, m *member) {
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			return
		}
		if typ != websocket.MessageText {
			_ = conn.Close(websocket.StatusUnsupportedData, "text messages only")
			return
		}
		s.hub.broadcast(m, string(data))
	}
}

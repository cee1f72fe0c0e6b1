// Command echoserver is the program the nodesim tests run as a pod's process. It prints its
// arguments and environment, serves GET / with its pid, arguments and environment as JSON and
// GET /readyz with 200 once --ready-after has passed (503 before and while shutting down), and
// on SIGTERM logs it and exits after --shutdown-delay, or ignores it with --ignore-sigterm.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Info is what GET / answers.
type Info struct {
	PID  int               `json:"pid"`
	Args []string          `json:"args"`
	Env  map[string]string `json:"env"`
}

func main() {
	listen := flag.String("listen", "", "address to listen on, e.g. $(POD_IP):8080")
	readyAfter := flag.Duration("ready-after", 0, "how long /readyz answers 503 after the start")
	shutdownDelay := flag.Duration("shutdown-delay", 0, "how long to keep serving after SIGTERM")
	ignoreSigterm := flag.Bool("ignore-sigterm", false, "log SIGTERM but keep running")
	flag.Parse()
	terms := make(chan os.Signal, 1)
	signal.Notify(terms, syscall.SIGTERM)

	info := Info{PID: os.Getpid(), Args: os.Args[1:], Env: environ()}
	fmt.Printf("args %q\n", info.Args)
	for _, kv := range slices.Sorted(slices.Values(os.Environ())) {
		fmt.Println("env", kv)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Println("listen:", err)
		os.Exit(1)
	}
	var ready atomic.Bool
	time.AfterFunc(*readyAfter, func() {
		ready.Store(true)
		fmt.Println("ready")
	})
	srv := &http.Server{Handler: handler(info, &ready), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }() // ErrServerClosed once shut down
	fmt.Println("serving on", ln.Addr())

	for range terms {
		fmt.Println("received SIGTERM")
		if !*ignoreSigterm {
			break
		}
	}
	ready.Store(false)
	time.Sleep(*shutdownDelay)
	_ = srv.Shutdown(context.Background())
	fmt.Println("exiting")
}

func handler(info Info, ready *atomic.Bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(info)
	})
	return mux
}

func environ() map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		name, value, _ := strings.Cut(kv, "=")
		env[name] = value
	}
	return env
}

package nodesim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

// LogSource is implemented by a Runtime whose containers write logs to files; the simulated
// node then serves them as the kubelet's /containerLogs endpoint does, so `kubectl logs` works.
type LogSource interface {
	// LogPath returns the file of the output of the named container of a pod; it need not exist.
	LogPath(namespace, pod, container string) string
}

var _ LogSource = (*ProcessRuntime)(nil)

// followPoll is how often a followed log is checked for new output.
const followPoll = 200 * time.Millisecond

// kubeletServer serves the part of the kubelet API that the API server proxies `kubectl logs`
// to, over HTTPS on HostIP (the API server does not verify kubelet certificates unless told to,
// and the local control plane does not tell it). exec, attach and port-forward answer 501.
type kubeletServer struct {
	logs LogSource // nil: the runtime writes no logs
	// running returns a function that reports whether the pod namespace/name, as it is now,
	// still runs on the node: a followed log ends with it.
	running func(namespace, name string) func() bool
	srv     *http.Server
	ln      net.Listener
}

// startKubeletServer listens on a free port of HostIP and serves until stop is called.
func startKubeletServer(logs LogSource, running func(namespace, name string) func() bool) (*kubeletServer, error) {
	cert, err := selfSignedCert(HostIP)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(HostIP, "0"))
	if err != nil {
		return nil, err
	}
	k := &kubeletServer{logs: logs, running: running, ln: ln}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", k.containerLogs)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, fmt.Sprintf("the simulated node (nodesim) serves only container logs, not %s: "+
			"exec, attach and port-forward do not work on it", r.URL.Path), http.StatusNotImplemented)
	})
	k.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}
	go func() { _ = k.srv.ServeTLS(ln, "", "") }()
	return k, nil
}

// port is the port the server listens on.
func (k *kubeletServer) port() int32 {
	return int32(k.ln.Addr().(*net.TCPAddr).Port)
}

// stop closes the listener and every open connection, followed logs among them.
func (k *kubeletServer) stop() error {
	return k.srv.Close()
}

// containerLogs answers GET /containerLogs/{namespace}/{pod}/{container} with the container's
// log file, honouring tailLines, limitBytes and follow. A runtime keeps one file per container
// across restarts, so previous=true is refused; timestamps and sinceSeconds are ignored.
func (k *kubeletServer) containerLogs(w http.ResponseWriter, r *http.Request) {
	namespace, pod, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("container")
	q := r.URL.Query()
	if q.Get("previous") == "true" {
		http.Error(w, "the simulated node (nodesim) keeps one log per container across restarts: "+
			"kubectl logs without --previous shows all of it", http.StatusBadRequest)
		return
	}
	tail, err := optionalInt(q.Get("tailLines"))
	if err != nil {
		http.Error(w, "tailLines: "+err.Error(), http.StatusBadRequest)
		return
	}
	limit, err := optionalInt(q.Get("limitBytes"))
	if err != nil {
		http.Error(w, "limitBytes: "+err.Error(), http.StatusBadRequest)
		return
	}
	var f *os.File
	if k.logs != nil {
		f, err = os.Open(k.logs.LogPath(namespace, pod, container))
	}
	if k.logs == nil || errors.Is(err, os.ErrNotExist) {
		http.Error(w, fmt.Sprintf("container %q of pod %s/%s has no log: the simulated node (nodesim) runs only the "+
			"project's images as processes, and containers of other images run nothing", container, namespace, pod), http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	out := io.Writer(w)
	if limit >= 0 {
		out = &limitedWriter{w: w, n: limit}
	}
	// An error here means the client went away, the limit was reached or the file could not be
	// read: the answer ends there.
	var follow func() bool
	if q.Get("follow") == "true" {
		follow = k.running(namespace, pod)
	}
	_ = writeLog(r.Context(), out, w, f, tail, follow)
}

// writeLog copies the log f to out, only its last tail lines if tail >= 0, then, if follow is
// not nil, whatever is appended to it while follow reports true and until ctx ends.
func writeLog(ctx context.Context, out io.Writer, flusher http.ResponseWriter, f *os.File, tail int64, follow func() bool) error {
	data, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	if tail >= 0 {
		data = lastLines(data, tail)
	}
	if _, err := out.Write(data); err != nil {
		return err
	}
	for follow != nil {
		if fl, ok := flusher.(http.Flusher); ok {
			fl.Flush()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(followPoll):
		}
		running := follow()
		if _, err := io.Copy(out, f); err != nil || !running {
			return err
		}
	}
	return nil
}

// lastLines returns the last n lines of data.
func lastLines(data []byte, n int64) []byte {
	if n == 0 {
		return nil
	}
	end := len(data)
	if end > 0 && data[end-1] == '\n' {
		end--
	}
	for i := end - 1; i >= 0; i-- {
		if data[i] == '\n' {
			if n--; n == 0 {
				return data[i+1:]
			}
		}
	}
	return data
}

// optionalInt parses a non-negative integer parameter; -1 if it is empty.
func optionalInt(s string) (int64, error) {
	if s == "" {
		return -1, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err == nil && n < 0 {
		err = errors.New("must not be negative")
	}
	return n, err
}

var errLimitReached = errors.New("limitBytes reached")

// limitedWriter writes at most n bytes to w, then fails with errLimitReached.
type limitedWriter struct {
	w io.Writer
	n int64
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	short := int64(len(p)) > l.n
	if short {
		p = p[:l.n]
	}
	written, err := l.w.Write(p)
	l.n -= int64(written)
	if err == nil && short {
		err = errLimitReached
	}
	return written, err
}

// selfSignedCert returns a certificate for ip, signed by its own key.
func selfSignedCert(ip string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "nodesim"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP(ip)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

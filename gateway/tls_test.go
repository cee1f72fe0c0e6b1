package gateway_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/coder/websocket"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
	"github.com/stablering/stablering/gateway/resolved"
)

// selfSigned writes a certificate for 127.0.0.1 and its key to dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "gateway"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestTLS serves HTTP/2 and WebSockets over TLS.
func TestTLS(t *testing.T) {
	bs := newBackends(t, 2)
	opts := testOptions(t)
	opts.TLSCertFile, opts.TLSKeyFile = selfSigned(t, t.TempDir())
	h := startGateway(t, opts)
	sr := newRing("chat", bs)
	h.g.Update([]resolved.Ring{sr})
	insecure := &tls.Config{InsecureSkipVerify: true} //nolint:gosec // self-signed test certificate
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: insecure, ForceAttemptHTTP2: true}}
	resp, err := client.Get("https://" + h.host + "/x?room=a")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
		t.Fatalf("%s %s", resp.Proto, resp.Status)
	}

	// WebSockets need HTTP/1.1 (the client offers only it for the handshake).
	wsClient := &http.Client{Transport: &http.Transport{TLSClientConfig: insecure}}
	key := keysOwnedBy(t, sr, 1, 1)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "wss://"+h.host+"/ws?room="+key, &websocket.DialOptions{HTTPClient: wsClient}) //nolint:bodyclose // coder/websocket closes it
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.CloseNow() }()
	if _, greeting, err := c.Read(ctx); err != nil || string(greeting) != "member 1" {
		t.Fatalf("greeting %q %v", greeting, err)
	}
	if err := c.Write(ctx, websocket.MessageText, []byte("over tls")); err != nil {
		t.Fatal(err)
	}
	if _, echo, err := c.Read(ctx); err != nil || string(echo) != "over tls" {
		t.Fatalf("echo %q %v", echo, err)
	}
	setState(&sr, 1, v1alpha1.MemberDraining)
	h.g.Update([]resolved.Ring{sr})
	if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != websocket.StatusServiceRestart {
		t.Fatalf("drained over TLS: %v", err)
	}
}

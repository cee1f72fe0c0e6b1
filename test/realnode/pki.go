package realnode

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// certValidity is how long the run's certificates are valid: a run lasts minutes to hours.
const certValidity = 7 * 24 * time.Hour

// user is a client certificate's identity: its common name is the user, its organizations the
// groups.
type user struct {
	file   string // base name of its .crt and .key files and of its kubeconfig
	name   string
	groups []string
}

// pki is the run's certificate authority, in a directory: ca.crt and ca.key, the API server's
// serving certificate, a client certificate per user, and the service-account signing key pair.
type pki struct {
	dir    string
	caCert *x509.Certificate
	caKey  crypto.Signer
	serial int64
}

// newPKI makes a certificate authority in dir.
func newPKI(dir string) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	p := &pki{dir: dir, caKey: key, serial: 1}
	tmpl := p.template(pkix.Name{CommonName: "stablering-realnode-ca"})
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	if p.caCert, err = x509.ParseCertificate(der); err != nil {
		return nil, err
	}
	return p, p.write("ca", der, key)
}

func (p *pki) template(subject pkix.Name) *x509.Certificate {
	p.serial++
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: big.NewInt(p.serial),
		Subject:      subject,
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(certValidity),
	}
}

// path is the file of the PKI named name plus ext (".crt", ".key", ".pub").
func (p *pki) path(name, ext string) string { return filepath.Join(p.dir, name+ext) }

// serving issues the API server's certificate for ips and dnsNames.
func (p *pki) serving(name string, ips []net.IP, dnsNames []string) error {
	tmpl := p.template(pkix.Name{CommonName: name})
	tmpl.IPAddresses, tmpl.DNSNames = ips, dnsNames
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	return p.issue(name, tmpl)
}

// client issues u's client certificate.
func (p *pki) client(u user) error {
	tmpl := p.template(pkix.Name{CommonName: u.name, Organization: u.groups})
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	return p.issue(u.file, tmpl)
}

func (p *pki) issue(name string, tmpl *x509.Certificate) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, key.Public(), p.caKey)
	if err != nil {
		return fmt.Errorf("issuing %s: %w", name, err)
	}
	return p.write(name, der, key)
}

// serviceAccountKeys writes the key pair the API server signs service-account tokens with
// (name.key) and checks them with (name.pub).
func (p *pki) serviceAccountKeys(name string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return err
	}
	if err := writePEM(p.path(name, ".pub"), "PUBLIC KEY", pub); err != nil {
		return err
	}
	return p.writeKey(name, key)
}

func (p *pki) write(name string, der []byte, key *ecdsa.PrivateKey) error {
	if err := writePEM(p.path(name, ".crt"), "CERTIFICATE", der); err != nil {
		return err
	}
	return p.writeKey(name, key)
}

func (p *pki) writeKey(name string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return writePEM(p.path(name, ".key"), "PRIVATE KEY", der)
}

func writePEM(path, kind string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600)
}

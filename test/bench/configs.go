package bench

import (
	"bytes"
	"embed"
	"fmt"
	"text/template"
)

// The configuration templates of the proxies and of the C backend, and the wrk script.
//
//go:embed nginx.conf.tmpl haproxy.cfg.tmpl rings.yaml.tmpl nginx-backend.conf.tmpl rooms.lua
var files embed.FS

// Template names, for Render.
const (
	NginxTemplate   = "nginx.conf.tmpl"
	HAProxyTemplate = "haproxy.cfg.tmpl"
	RingsTemplate   = "rings.yaml.tmpl"
	// BackendTemplate is nginx as the C backend: one server per entry of Backends, on its
	// Address, answering every request with 200, a 16-byte body and X-Backend: Name (Name is
	// at most two characters long).
	BackendTemplate = "nginx-backend.conf.tmpl"
)

// Backend is one backend server as the proxies see it.
type Backend struct {
	// Name is the server's name in the HAProxy configuration.
	Name string
	// Address is host:port.
	Address string
}

// ProxyConfig is the data of the configuration templates.
type ProxyConfig struct {
	// Listen is the proxy's host:port.
	Listen string
	// Backends are the ring members, in ordinal order.
	Backends []Backend
	// Port is the backends' port, for the StableRing's spec.port.
	Port int
	// Workers is nginx's worker_processes and HAProxy's nbthread.
	Workers int
	// MaxConns is nginx's worker_connections and HAProxy's maxconn.
	MaxConns int
	// NoFile is nginx's worker_rlimit_nofile.
	NoFile int
	// Dir holds nginx's pid file, error log and temporary files.
	Dir string
	// StatsAddr is host:port of HAProxy's runtime API.
	StatsAddr string
	// RingVersion is the StableRing's status.ringVersion.
	RingVersion string
}

// Render executes the named template (NginxTemplate, HAProxyTemplate, RingsTemplate or
// BackendTemplate).
func Render(name string, cfg ProxyConfig) ([]byte, error) {
	t, err := template.New(name).Option("missingkey=error").ParseFS(files, name)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, cfg); err != nil {
		return nil, fmt.Errorf("rendering %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// WrkScript is the wrk Lua script that spreads requests over rooms.
func WrkScript() []byte {
	b, err := files.ReadFile("rooms.lua")
	if err != nil {
		panic(err) // embedded at build time
	}
	return b
}

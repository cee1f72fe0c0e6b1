package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stablering/stablering/cmd/stablering/loadgen"
)

func TestLoadgenUsage(t *testing.T) {
	for _, tc := range []struct {
		args               []string
		code               int
		inStdout, inStderr string
	}{
		{[]string{"--help"}, 0, "--message-interval duration", ""},
		{[]string{"--connections", "x"}, 2, "", `invalid argument "x" for "--connections" flag`},
		{[]string{"extra"}, 2, "", `unexpected arguments ["extra"]`},
		{[]string{"--connections", "0"}, 2, "", "connections must be at least 1"},
		{[]string{"--url", "gateway:8080/ws"}, 2, "", "bad URL"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"loadgen"}, tc.args...), &stdout, &stderr)
		if code != tc.code || !strings.Contains(stdout.String(), tc.inStdout) || !strings.Contains(stderr.String(), tc.inStderr) {
			t.Errorf("loadgen %q = exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
				tc.args, code, stdout.String(), stderr.String(), tc.code, tc.inStdout, tc.inStderr)
		}
	}
}

// TestLoadgenWritesSummaries runs against a port nobody listens on: every attempt fails, and the
// summary says so.
func TestLoadgenWritesSummaries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "summary.json")
	var stdout, stderr bytes.Buffer
	code := run([]string{"loadgen", "--url", "ws://127.0.0.1:1/rooms/{room}/ws", "--connections", "3", "--rooms", "2",
		"--duration", "300ms", "--ramp", "0", "--report-interval", "100ms", "--json", path}, &stdout, &stderr)
	if code != 0 || !strings.Contains(stdout.String(), "never connected                3\n") || !strings.Contains(stderr.String(), "live=0") {
		t.Errorf("loadgen = exit %d, stdout %q, stderr %q; want 0, three connections that never connected and progress lines", code, stdout.String(), stderr.String())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s loadgen.Summary
	if err := json.Unmarshal(data, &s); err != nil || s.Connections != 3 || s.Rooms != 2 || s.ConnectErrors == 0 || len(s.Clients) != 3 {
		t.Errorf("JSON summary %s (%v), want 3 connections over 2 rooms with failed attempts", data, err)
	}
}

package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		args               []string
		code               int
		inStdout, inStderr string
	}{
		{[]string{"--help"}, 0, "lookup      print the ordinal that owns each room key", ""},
		{[]string{"help"}, 0, "Commands:", ""},
		{nil, 2, "", "no command given"},
		{[]string{"lookpu"}, 2, "", `unknown command "lookpu"`},
		{[]string{"lookup", "--replicas", "6", "room-42"}, 0, "room-42 1\n", ""},
	} {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stdout.String(), tc.inStdout) || !strings.Contains(stderr.String(), tc.inStderr) ||
			tc.inStderr == "" && stderr.Len() > 0 {
			t.Errorf("stablering %q = exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
				tc.args, code, stdout.String(), stderr.String(), tc.code, tc.inStdout, tc.inStderr)
		}
	}
}

func TestVersion(t *testing.T) {
	var stdout, stderr strings.Builder
	if code := run([]string{"version"}, &stdout, &stderr); code != 0 || !strings.HasPrefix(stdout.String(), "stablering ") {
		t.Fatalf("version: exit %d, %q %q", code, stdout.String(), stderr.String())
	}
}

// TestPluginName: installed as kubectl-stablering, the usage names the kubectl plugin.
func TestPluginName(t *testing.T) {
	for path, want := range map[string]string{
		"/usr/local/bin/kubectl-stablering":  "kubectl stablering",
		`C:\krew\bin\kubectl-stablering.exe`: "stablering", // filepath is the host's: no backslashes on Linux
		"kubectl-stablering.exe":             "kubectl stablering",
		"./stablering":                       "stablering",
		"/tmp/kubectl-stablering-old":        "stablering",
	} {
		if got := displayName(path); got != want {
			t.Errorf("displayName(%q) = %q, want %q", path, got, want)
		}
	}
	var stdout, stderr strings.Builder
	code := runAs("kubectl stablering", []string{"lookup", "--replicas", "3"}, &stdout, &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "kubectl stablering lookup: no keys given\nusage: kubectl stablering lookup ") {
		t.Errorf("as a plugin: exit %d, stderr %q; want 2 and the plugin's name", code, stderr.String())
	}
	stdout.Reset()
	if code := runAs("kubectl stablering", []string{"--help"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "usage: kubectl stablering <command>") {
		t.Errorf("as a plugin, --help: exit %d, %q", code, stdout.String())
	}
}

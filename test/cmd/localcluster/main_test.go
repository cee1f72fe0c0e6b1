package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteEnvExportsKubeconfigAndPath(t *testing.T) {
	dir := t.TempDir()
	env := filepath.Join(dir, ".localcluster", "env")
	kubeconfig := filepath.Join(dir, "it's here", "kubeconfig")
	binDir := filepath.Join(dir, "bin dir")
	if err := writeEnv(env, kubeconfig, binDir); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh to source the file with")
	}
	out, err := exec.Command("sh", "-c", `. "$1" && printf '%s\n%s\n' "$KUBECONFIG" "$PATH"`, "sh", env).Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(out), "\n")
	if lines[0] != kubeconfig {
		t.Errorf("KUBECONFIG=%q, want %q", lines[0], kubeconfig)
	}
	if want := binDir + ":" + os.Getenv("PATH"); lines[1] != want {
		t.Errorf("PATH=%q, want %q", lines[1], want)
	}
}

func TestCheckNotRunningAcceptsMissingAndStaleKubeconfigs(t *testing.T) {
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := checkNotRunning(t.Context(), kubeconfig); err != nil {
		t.Errorf("no kubeconfig: %v", err)
	}
	stale := `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`
	if err := os.WriteFile(kubeconfig, []byte(stale), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := checkNotRunning(t.Context(), kubeconfig); err != nil {
		t.Errorf("a kubeconfig whose server does not answer: %v", err)
	}
}

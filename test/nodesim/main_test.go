package nodesim

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stablering/stablering/test/images"
)

// echoServer is the path of the echoserver that TestMain builds.
var echoServer string

// TestMain builds the echoserver for the tests and fails them if any of its processes outlives
// them.
func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "nodesim-test-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)
	if echoServer, err = buildEchoServer(dir); err != nil {
		return fail(err)
	}
	code := m.Run()
	if pids := processesOf(echoServer); len(pids) > 0 {
		return fail(fmt.Errorf("echoserver processes outlived the tests: %v", pids))
	}
	return code
}

func fail(err error) int {
	fmt.Fprintln(os.Stderr, err)
	return 1
}

func buildEchoServer(dir string) (string, error) {
	ctx := context.Background()
	root, err := images.ModuleRoot(ctx)
	if err != nil {
		return "", err
	}
	built, err := images.Build(ctx, root, dir, map[string]string{EchoImage: "./test/nodesim/testdata/echoserver"})
	return built[EchoImage], err
}

// processesOf returns the pids of the processes running the executable at path (Linux /proc).
func processesOf(path string) []int {
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var pids []int
	for _, cmdline := range cmdlines {
		argv, err := os.ReadFile(cmdline)
		if err == nil && bytes.HasPrefix(argv, []byte(path+"\x00")) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(cmdline)))
			pids = append(pids, pid)
		}
	}
	return pids
}

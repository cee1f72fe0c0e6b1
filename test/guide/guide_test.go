// Package guide_test runs the commands of the user guide's "Try it locally" section, in order, as
// a reader following it would, so that the walk-through cannot rot: in a copy of the repository
// (what a fresh clone holds, with the working tree's changes), with the guide's terminals as
// shells of their own.
//
// The section's ```sh blocks run in order in one shell, the second terminal of the guide, with
// `set -euo pipefail`: a failing command fails the test. HTML comments that start with
// "guide-test:" say what else a reader does:
//
//	<!-- guide-test: terminal NAME, until "TEXT" -->   the next block runs in a terminal of its
//	                                                  own, left running; the test goes on once
//	                                                  its output shows TEXT
//	<!-- guide-test: wait NAME, until "TEXT" -->       wait until terminal NAME prints TEXT
//	                                                  (in output that comes after this point)
//	<!-- guide-test: ctrl-c NAME, expect "TEXT" -->    Ctrl-C in terminal NAME: SIGINT to its
//	                                                  process group; once it has exited, its
//	                                                  output must show each TEXT (runs of
//	                                                  white space match any white space)
//	<!-- guide-test: skip: WHY -->                     the next block is not run
//	<!-- guide-test: file PATH -->                     the next block (anywhere in the guide) is
//	                                                  the repository's file PATH, verbatim
//
// Terminals still running at the end get Ctrl-C, last started first.
//
// The manifests the walk-through applies, examples/chat/deploy and examples/localcluster, are
// also checked on their own for what the guide says of them (examples_test.go).
package guide_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stablering/stablering/test/controlplane"
)

const (
	guidePath = "../../docs/user-guide.md"
	section   = "Try it locally"
	// timeout bounds the whole walk-through; `make test` gives the package 30 minutes.
	timeout = 12 * time.Minute
	// stopTimeout is how long a terminal has to exit after Ctrl-C.
	stopTimeout = 90 * time.Second
)

// step is one thing the reader does.
type step struct {
	kind     string   // "run", "terminal", "wait" or "ctrl-c"
	terminal string   // terminal, wait and ctrl-c
	until    string   // terminal and wait
	expect   []string // ctrl-c
	script   string   // run and terminal
	line     int      // in the guide
}

func (s step) String() string {
	switch s.kind {
	case "terminal":
		return fmt.Sprintf("line %d: in terminal %q, until %q:\n%s", s.line, s.terminal, s.until, s.script)
	case "wait":
		return fmt.Sprintf("line %d: wait until terminal %q prints %q", s.line, s.terminal, s.until)
	case "ctrl-c":
		return fmt.Sprintf("line %d: Ctrl-C in terminal %q", s.line, s.terminal)
	}
	return fmt.Sprintf("line %d:\n%s", s.line, s.script)
}

var (
	directiveRE = regexp.MustCompile(`^<!-- guide-test: (.*) -->$`)
	quotedRE    = regexp.MustCompile(`(until|expect) "([^"]*)"`)
)

// parseSteps returns the steps of the section titled title of the markdown guide.
func parseSteps(guide, title string) ([]step, error) {
	lines := strings.Split(guide, "\n")
	start := slices.Index(lines, "## "+title)
	if start < 0 {
		return nil, fmt.Errorf("no section %q", title)
	}
	var steps []step
	var pending *step // set by a directive for the next block
	skip := false
	for i := start + 1; i < len(lines); i++ {
		line := lines[i]
		if strings.HasPrefix(line, "## ") {
			break
		}
		if m := directiveRE.FindStringSubmatch(line); m != nil {
			st, skipNext, err := parseDirective(m[1], i+1)
			if err != nil {
				return nil, err
			}
			switch {
			case skipNext:
				skip = true
			case st.kind == "ctrl-c" || st.kind == "wait":
				steps = append(steps, st)
			case st.kind == "terminal":
				pending = &st
			}
			continue
		}
		fence, ok := strings.CutPrefix(line, "```")
		if !ok || fence == "" {
			continue
		}
		end := i + 1
		for end < len(lines) && lines[end] != "```" {
			end++
		}
		if end == len(lines) {
			return nil, fmt.Errorf("line %d: unterminated code block", i+1)
		}
		script := strings.Join(lines[i+1:end], "\n") + "\n"
		switch {
		case fence != "sh":
		case skip:
		case pending != nil:
			pending.script = script
			steps = append(steps, *pending)
		default:
			steps = append(steps, step{kind: "run", script: script, line: i + 1})
		}
		if fence == "sh" {
			pending, skip = nil, false
		}
		i = end
	}
	if pending != nil || skip {
		return nil, errors.New("a directive at the end of the section has no block to apply to")
	}
	return steps, nil
}

// parseDirective parses the text of a guide-test comment at line.
func parseDirective(text string, line int) (step, bool, error) {
	word, rest, _ := strings.Cut(text, " ")
	word = strings.TrimSuffix(word, ":")
	switch word {
	case "skip":
		return step{}, true, nil
	case "file":
		return step{}, false, nil // checked by TestGuideShowsFilesVerbatim
	case "terminal", "wait", "ctrl-c":
	default:
		return step{}, false, fmt.Errorf("line %d: unknown directive %q", line, text)
	}
	name, args, _ := strings.Cut(rest, ",")
	st := step{kind: word, terminal: strings.TrimSpace(name), line: line}
	for _, m := range quotedRE.FindAllStringSubmatch(args, -1) {
		if m[1] == "until" {
			st.until = m[2]
		} else {
			st.expect = append(st.expect, m[2])
		}
	}
	if st.terminal == "" || (word != "ctrl-c" && st.until == "") {
		return step{}, false, fmt.Errorf("line %d: %q needs a terminal name (and, to start or wait for one, until \"TEXT\")", line, text)
	}
	return st, false, nil
}

func TestParseSteps(t *testing.T) {
	guide := strings.Join([]string{
		"## Other", "```sh", "not run", "```",
		"## Try", "text",
		`<!-- guide-test: terminal one, until "ready" -->`, "```sh", "serve", "```",
		"```sh", "a", "b", "```",
		"```yaml", "k: v", "```",
		"<!-- guide-test: skip: not here -->", "```sh", "skipped", "```",
		`<!-- guide-test: ctrl-c one, expect "x 0", expect "y" -->`,
		"## Next", "```sh", "not run", "```",
	}, "\n")
	steps, err := parseSteps(guide, "Try")
	if err != nil {
		t.Fatal(err)
	}
	want := []step{
		{kind: "terminal", terminal: "one", until: "ready", script: "serve\n", line: 7},
		{kind: "run", script: "a\nb\n", line: 11},
		{kind: "ctrl-c", terminal: "one", expect: []string{"x 0", "y"}, line: 22},
	}
	if fmt.Sprint(steps) != fmt.Sprint(want) || len(steps) != len(want) || !slices.Equal(steps[2].expect, want[2].expect) {
		t.Fatalf("got %+v, want %+v", steps, want)
	}
	if _, err := parseSteps("## Try\n<!-- guide-test: terminal x -->\n```sh\ny\n```\n", "Try"); err == nil {
		t.Fatal("a terminal without until: no error")
	}
}

// TestGuideShowsFilesVerbatim checks that each block after a "file PATH" directive, in the user
// guide and the migration guide, is that file.
func TestGuideShowsFilesVerbatim(t *testing.T) {
	for _, path := range []string{guidePath, migrationGuidePath} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			checkFilesVerbatim(t, string(data))
		})
	}
}

// checkFilesVerbatim checks the file directives of guide.
func checkFilesVerbatim(t *testing.T, guide string) {
	t.Helper()
	lines := strings.Split(guide, "\n")
	found := 0
	for i, line := range lines {
		m := directiveRE.FindStringSubmatch(line)
		path, ok := "", false
		if m != nil {
			path, ok = strings.CutPrefix(m[1], "file ")
		}
		if !ok {
			continue
		}
		found++
		if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "```") {
			t.Fatalf("line %d: no code block after the file directive", i+1)
		}
		end := i + 2
		for end < len(lines) && lines[end] != "```" {
			end++
		}
		shown := strings.Join(lines[i+2:end], "\n") + "\n"
		data, err := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(path)))
		if err != nil {
			t.Fatal(err)
		}
		if shown != string(data) {
			t.Errorf("line %d: the guide's copy of %s differs from the file; copy the file into the guide:\n%s", i+1, path, data)
		}
	}
	if found == 0 {
		t.Fatal("no file directive in the guide")
	}
}

func readGuide(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(guidePath)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestTryItLocally follows "Try it locally" in a copy of the repository.
func TestTryItLocally(t *testing.T) {
	if testing.Short() {
		t.Skip("the walk-through takes minutes")
	}
	if reason := controlplane.SkipReason(); reason != "" {
		t.Skip(reason)
	}
	for _, tool := range []string{"bash", "make", "curl", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the walk-through needs %s: %v", tool, err)
		}
	}
	steps, err := parseSteps(readGuide(t), section)
	if err != nil {
		t.Fatal(err)
	}
	dir := cloneRepository(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if deadline, ok := t.Deadline(); ok {
		// Leave time to stop the terminals before the test binary's own timeout.
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-2*stopTimeout))
		defer cancel()
	}

	if signal.Ignored(os.Interrupt) {
		// Run in the background of a shell without job control, the test would pass an ignored
		// SIGINT on to its terminals, which could then not be stopped with Ctrl-C. Caught here
		// instead, it starts at its default action in them.
		signal.Notify(make(chan os.Signal, 1), os.Interrupt)
		defer signal.Reset(os.Interrupt)
	}
	r := &reader{t: t, dir: dir, env: readerEnv(t), terminals: map[string]*terminal{}}
	defer r.stopAll()
	r.follow(ctx, steps)
}

// follow runs steps in order, the "run" steps in a main terminal, and fails the test at the
// first step that fails.
func (r *reader) follow(ctx context.Context, steps []step) {
	t := r.t
	main, err := r.start("main", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range steps {
		began := time.Now()
		t.Logf("%s", st)
		switch st.kind {
		case "run":
			var printed string
			printed, err = main.run(ctx, st.script)
			if err == nil {
				t.Logf("it printed:\n%s", printed)
			}
		case "terminal":
			err = r.startTerminal(ctx, st)
		case "wait":
			err = r.wait(ctx, st)
		case "ctrl-c":
			err = r.interrupt(st)
		}
		if err != nil {
			t.Fatalf("%s\nfailed: %v", st, err)
		}
		t.Logf("took %s", time.Since(began).Round(100*time.Millisecond))
	}
}

// cloneRepository copies the repository's files (tracked and untracked, not ignored, as the
// working tree has them) to a directory of the cache that stays the same from run to run, so
// that Go's build cache serves the builds in it, and returns it. Runs at the same time (of other
// clones, say) each take a directory of their own, held by a lock until the test ends.
func cloneRepository(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("listing the repository's files: %v", err)
	}
	cache := os.Getenv("STABLERING_CACHE")
	if cache == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		cache = filepath.Join(base, "stablering")
	}
	dir := claimDirectory(t, filepath.Join(cache, "guide-test"))
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		if err := copyFile(filepath.Join(root, name), filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
	}
	t.Logf("a copy of the repository: %s", dir)
	return dir
}

// claimDirectory returns base/N/stablering for the first N whose lock no other run holds, and
// holds it until the test ends.
func claimDirectory(t *testing.T, base string) string {
	t.Helper()
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatal(err)
	}
	for n := range 20 {
		lock, err := os.OpenFile(filepath.Join(base, fmt.Sprintf("%d.lock", n)), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			lock.Close()
			continue
		}
		t.Cleanup(func() { lock.Close() })
		return filepath.Join(base, strconv.Itoa(n), "stablering")
	}
	t.Fatalf("every directory of %s is in use by another run", base)
	return ""
}

func copyFile(from, to string) error {
	info, err := os.Lstat(from)
	if err != nil || !info.Mode().IsRegular() {
		return err
	}
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	return os.WriteFile(to, data, info.Mode().Perm())
}

// readerEnv is the environment of the reader's shells: the test's, without what `make test`
// and the test itself add, and with a KUBECONFIG that reaches no cluster until the guide says
// which.
func readerEnv(t *testing.T) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return slices.Contains([]string{"MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES", "KUBECONFIG", "KUBEBUILDER_ASSETS"}, name)
	})
	return append(env, "KUBECONFIG="+filepath.Join(t.TempDir(), "no-cluster-yet"))
}

// reader is someone following the guide, with their terminals.
type reader struct {
	t         *testing.T
	dir       string
	env       []string
	terminals map[string]*terminal
	order     []string // names of the terminals, in the order they started
}

// terminal is a bash of its own process group, as in a terminal window.
type terminal struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser // main terminal only: where its commands go
	out   *output
	done  chan struct{} // closed once bash has exited
	err   error         // bash's exit error, valid after done
	steps *bufio.Scanner
}

// output collects what a terminal prints.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// start starts terminal name. With script "", it is the main terminal, which takes its commands
// one block at a time; otherwise it runs script.
func (r *reader) start(name, script string) (*terminal, error) {
	term := &terminal{name: name, out: &output{}, done: make(chan struct{})}
	args := []string{"--noprofile", "--norc"}
	if script != "" {
		args = append(args, "-euo", "pipefail", "-c", script)
	}
	term.cmd = exec.Command("bash", args...)
	term.cmd.Dir, term.cmd.Env = r.dir, r.env
	term.cmd.Stdout, term.cmd.Stderr = term.out, term.out
	// A process group of its own, as a terminal's foreground job, so that Ctrl-C reaches all of
	// it; killed if the test dies first.
	term.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if script == "" {
		stepsR, stepsW, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		defer stepsW.Close()
		term.cmd.ExtraFiles = []*os.File{stepsW} // fd 3: where each block reports its end
		term.steps = bufio.NewScanner(stepsR)
		if term.stdin, err = term.cmd.StdinPipe(); err != nil {
			return nil, err
		}
	}
	if err := term.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		term.err = term.cmd.Wait()
		close(term.done)
	}()
	r.terminals[name] = term
	r.order = append(r.order, name)
	if script == "" {
		if _, err := io.WriteString(term.stdin, "set -euo pipefail\n"); err != nil {
			return nil, err
		}
	}
	return term, nil
}

// run runs script in the main terminal and returns what it printed once it is done; an error if
// a command failed (which ends the shell) or ctx ends.
func (term *terminal) run(ctx context.Context, script string) (string, error) {
	file, err := os.CreateTemp("", "guide-step-*.sh")
	if err != nil {
		return "", err
	}
	defer os.Remove(file.Name())
	if _, err := file.WriteString(script); err != nil {
		return "", errors.Join(err, file.Close())
	}
	if err := file.Close(); err != nil {
		return "", err
	}
	before := len(term.out.String())
	// The block reads nothing from the shell's input (its commands), and reports its end on fd 3.
	if _, err := fmt.Fprintf(term.stdin, "source %s </dev/null 3>&-\necho done >&3\n", file.Name()); err != nil {
		return "", fmt.Errorf("the shell is gone (%w); it printed:\n%s", err, term.out)
	}
	ended := make(chan bool, 1)
	go func() { ended <- term.steps.Scan() }()
	select {
	case ok := <-ended:
		printed := term.out.String()[before:]
		if !ok {
			<-term.done
			return "", fmt.Errorf("a command failed (%w); the terminal printed:\n%s", term.err, printed)
		}
		return printed, nil
	case <-ctx.Done():
		return "", fmt.Errorf("%w; the terminal printed:\n%s", ctx.Err(), term.out.String()[before:])
	}
}

// startTerminal starts the terminal of st and waits until its output shows st.until.
func (r *reader) startTerminal(ctx context.Context, st step) error {
	if _, ok := r.terminals[st.terminal]; ok {
		return fmt.Errorf("terminal %q is already running", st.terminal)
	}
	term, err := r.start(st.terminal, st.script)
	if err != nil {
		return err
	}
	return waitFor(ctx, term, 0, st.until)
}

// wait waits until the terminal of st prints st.until.
func (r *reader) wait(ctx context.Context, st step) error {
	term, ok := r.terminals[st.terminal]
	if !ok {
		return fmt.Errorf("no terminal %q", st.terminal)
	}
	return waitFor(ctx, term, len(term.out.String()), st.until)
}

// waitFor waits until the output of term from offset on contains text.
func waitFor(ctx context.Context, term *terminal, offset int, text string) error {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(term.out.String()[offset:], text) {
		select {
		case <-term.done:
			return fmt.Errorf("terminal %q exited (%w) before printing %q; it printed:\n%s", term.name, term.err, text, term.out)
		case <-ctx.Done():
			return fmt.Errorf("%w before terminal %q printed %q; it printed:\n%s", ctx.Err(), term.name, text, term.out)
		case <-tick.C:
		}
	}
	return nil
}

// interrupt presses Ctrl-C in the terminal of st, waits until it has exited and checks what it
// printed.
func (r *reader) interrupt(st step) error {
	term, ok := r.terminals[st.terminal]
	if !ok {
		return fmt.Errorf("no terminal %q", st.terminal)
	}
	if err := r.stop(term); err != nil {
		return err
	}
	printed := strings.Join(strings.Fields(term.out.String()), " ")
	r.t.Logf("terminal %q printed:\n%s", term.name, tail(term.out.String(), 40))
	for _, want := range st.expect {
		if !strings.Contains(printed, strings.Join(strings.Fields(want), " ")) {
			return fmt.Errorf("terminal %q did not print %q", term.name, want)
		}
	}
	return nil
}

// stop sends SIGINT to the terminal's process group, as Ctrl-C does, and waits until bash has
// exited; after stopTimeout it kills the group.
func (r *reader) stop(term *terminal) error {
	delete(r.terminals, term.name)
	if term.stdin != nil {
		_ = term.stdin.Close()
	}
	_ = syscall.Kill(-term.cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-term.done:
		return nil
	case <-time.After(stopTimeout):
	}
	_ = syscall.Kill(-term.cmd.Process.Pid, syscall.SIGKILL)
	<-term.done
	return fmt.Errorf("terminal %q did not stop within %s of Ctrl-C; it printed:\n%s", term.name, stopTimeout, tail(term.out.String(), 40))
}

// stopAll stops the terminals still running, last started first.
func (r *reader) stopAll() {
	for _, name := range slices.Backward(r.order) {
		if term, ok := r.terminals[name]; ok {
			if err := r.stop(term); err != nil {
				r.t.Error(err)
			}
			if r.t.Failed() && term.name != "main" {
				r.t.Logf("terminal %q printed:\n%s", term.name, tail(term.out.String(), 60))
			}
		}
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

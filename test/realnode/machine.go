package realnode

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/stablering/stablering/test/internal/cachedir"
)

// What a run changes on the machine outside its run directory, and how it is undone. Start
// records what the machine had before (a snapshot), so that teardown removes only what the run
// created: new nftables tables and iptables chains (kube-proxy's and the kubelet's), new paths
// that the kubelet and containerd write outside the run directory, the bridge, the cgroups.

// fixedPaths are the paths the kubelet, containerd and the CNI plugins write outside the run
// directory whatever they are configured with.
var fixedPaths = []string{
	"/var/lib/kubelet",
	"/var/lib/cni",
	"/var/log/pods",
	"/var/log/containers",
	"/run/containerd",
	"/var/run/netns",
}

// snapshot is what the machine had before a run: the state file keeps it, so that a run that
// died without its teardown is undone by the next Start.
type snapshot struct {
	RunDir string `json:"runDir"`
	// Tables are the nftables tables ("family name") that existed.
	Tables []string `json:"tables"`
	// Chains are the iptables chains ("iptables table chain") that existed.
	Chains []string `json:"chains"`
	// Paths are the fixedPaths that existed.
	Paths []string `json:"paths"`
}

// takeSnapshot records the machine's state before a run in dir.
func takeSnapshot(ctx context.Context, runDir string) (snapshot, error) {
	s := snapshot{RunDir: runDir}
	var err error
	if s.Tables, err = nftTables(ctx); err != nil {
		return s, err
	}
	if s.Chains, err = iptablesChains(ctx); err != nil {
		return s, err
	}
	for _, p := range fixedPaths {
		if _, err := os.Lstat(p); err == nil {
			s.Paths = append(s.Paths, p)
		}
	}
	return s, nil
}

func (s snapshot) save(path string) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

func loadSnapshot(path string) (snapshot, bool, error) {
	var s snapshot
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, false, nil
	}
	if err != nil {
		return s, false, err
	}
	return s, true, json.Unmarshal(data, &s)
}

// Leftovers lists what a run left on the machine, compared with the snapshot taken before it:
// processes that belong to it (in its cgroups or naming its run directory), mounts under the run
// directory, the run directory, cgroups, the bridge, nftables tables and iptables chains, and
// the fixed paths that did not exist before. Empty means the machine is as it was.
func (s snapshot) Leftovers(ctx context.Context) []string {
	var out []string
	for _, pid := range s.processes() {
		out = append(out, fmt.Sprintf("process %d (%s)", pid, cmdline(pid)))
	}
	for _, m := range mountsUnder(s.RunDir) {
		out = append(out, "mount "+m)
	}
	if _, err := os.Lstat(s.RunDir); err == nil {
		out = append(out, "run directory "+s.RunDir)
	}
	for _, cg := range cgroupDirs() {
		out = append(out, "cgroup "+cg)
	}
	if _, err := os.Stat("/sys/class/net/" + defaultNetwork.Bridge); err == nil {
		out = append(out, "bridge "+defaultNetwork.Bridge)
	}
	tables, err := nftTables(ctx)
	if err != nil {
		out = append(out, "nft: "+err.Error())
	}
	for _, t := range added(tables, s.Tables) {
		out = append(out, "nftables table "+t)
	}
	chains, err := iptablesChains(ctx)
	if err != nil {
		out = append(out, "iptables: "+err.Error())
	}
	for _, c := range added(chains, s.Chains) {
		out = append(out, "chain "+c)
	}
	for _, p := range fixedPaths {
		if _, err := os.Lstat(p); err == nil && !slices.Contains(s.Paths, p) {
			out = append(out, "path "+p)
		}
	}
	return out
}

// teardown undoes what the run changed on the machine. Processes it started itself are already
// stopped; what is left are the containers' processes and containerd's shims. Every step runs
// even if an earlier one failed.
func (s snapshot) teardown(ctx context.Context) error {
	var errs []error
	errs = append(errs, killAll(s.processes()))
	for _, m := range slices.Backward(mountsUnder(s.RunDir)) {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", m, err))
		}
	}
	errs = append(errs, removeCgroups())
	errs = append(errs, s.removeChains(ctx))
	tables, err := nftTables(ctx)
	errs = append(errs, err)
	for _, t := range added(tables, s.Tables) {
		_, err := run(ctx, "nft", "delete", "table", strings.Fields(t)[0], strings.Fields(t)[1])
		errs = append(errs, err)
	}
	if _, err := os.Stat("/sys/class/net/" + defaultNetwork.Bridge); err == nil {
		_, err := run(ctx, "ip", "link", "delete", defaultNetwork.Bridge)
		errs = append(errs, err)
	}
	for _, p := range fixedPaths {
		if !slices.Contains(s.Paths, p) {
			errs = append(errs, removeAllUnmounting(p))
		}
	}
	errs = append(errs, removeAllUnmounting(s.RunDir))
	return errors.Join(errs...)
}

// added returns the elements of now that before lacks: what the run made.
func added(now, before []string) []string {
	return slices.DeleteFunc(slices.Clone(now), func(e string) bool { return slices.Contains(before, e) })
}

// processes are the pids that belong to the run: in its cgroups, or naming its run directory
// (containerd's shims, which leave the process tree of whoever started containerd).
func (s snapshot) processes() []int {
	pids := cgroupProcesses()
	procs, _ := filepath.Glob("/proc/[0-9]*")
	self := os.Getpid()
	for _, p := range procs {
		pid, _ := strconv.Atoi(filepath.Base(p))
		if pid != self && !slices.Contains(pids, pid) && strings.Contains(cmdline(pid), s.RunDir+"/") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// cgroupProcesses are the pids in the cgroups under cgroupRoot.
func cgroupProcesses() []int {
	var pids []int
	for _, cg := range cgroupDirs() {
		data, _ := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
		for f := range strings.FieldsSeq(string(data)) {
			if pid, err := strconv.Atoi(f); err == nil && !slices.Contains(pids, pid) {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

func cmdline(pid int) string {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.TrimSpace(strings.ReplaceAll(string(data), "\x00", " "))
}

// killAll sends SIGKILL to pids and waits up to 10 s until they are gone.
func killAll(pids []int) error {
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for syscall.Kill(pid, 0) == nil && !zombie(pid) {
			if time.Now().After(deadline) {
				return fmt.Errorf("process %d survived SIGKILL", pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

func zombie(pid int) bool {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	i := bytes.LastIndexByte(data, ')')
	return i > 0 && len(data) > i+2 && data[i+2] == 'Z'
}

// mountsUnder returns the mount points under dir, in the order of the mount table (parents
// before children).
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 1 {
			// The mount table escapes spaces and such as octal; the run's paths have none.
			if m := fields[1]; m == dir || strings.HasPrefix(m, dir+"/") {
				out = append(out, m)
			}
		}
	}
	return out
}

// removeAllUnmounting unmounts whatever is mounted under path and removes it.
func removeAllUnmounting(path string) error {
	for _, m := range slices.Backward(mountsUnder(path)) {
		_ = syscall.Unmount(m, syscall.MNT_DETACH)
	}
	return os.RemoveAll(path)
}

// cgroupHierarchies are the directories under which the kubelet and runc make cgroupRoot: every
// cgroup v1 hierarchy and, on a hybrid system, the unified (v2) one beside them; or the cgroup
// v2 root.
func cgroupHierarchies() []string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return []string{"/sys/fs/cgroup"}
	}
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*")
	return slices.DeleteFunc(dirs, func(d string) bool {
		fi, err := os.Lstat(d)
		return err != nil || !fi.IsDir()
	})
}

// cgroupDirs are the cgroups under cgroupRoot, in every hierarchy, deepest last.
func cgroupDirs() []string {
	var out []string
	for _, h := range cgroupHierarchies() {
		_ = filepath.WalkDir(filepath.Join(h, cgroupRoot), func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				out = append(out, path)
			}
			return nil
		})
	}
	return out
}

// makeCgroups creates cgroupRoot in every hierarchy: the kubelet needs it to exist.
func makeCgroups() error {
	for _, h := range cgroupHierarchies() {
		if err := os.MkdirAll(filepath.Join(h, cgroupRoot), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// cgroupRemoveTimeout bounds how long removeCgroups waits for the cgroups to empty.
const cgroupRemoveTimeout = 10 * time.Second

// removeCgroups removes the cgroups under cgroupRoot, deepest first. A killed process stays in
// its cgroup until its new parent has reaped it (the shim that started it is killed too), and
// the cgroup cannot be removed until then: it tries again every 100 ms, killing whatever is
// still in them, until all are gone or cgroupRemoveTimeout has passed.
func removeCgroups() error {
	deadline := time.Now().Add(cgroupRemoveTimeout)
	for {
		var errs []error
		for _, cg := range slices.Backward(cgroupDirs()) {
			if err := syscall.Rmdir(cg); err != nil && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("removing cgroup %s: %w", cg, err))
			}
		}
		if len(errs) == 0 || time.Now().After(deadline) {
			return errors.Join(errs...)
		}
		for _, pid := range cgroupProcesses() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// nftTables lists the nftables tables as "family name".
func nftTables(ctx context.Context) ([]string, error) {
	out, err := run(ctx, "nft", "list", "tables")
	if err != nil {
		return nil, err
	}
	var tables []string
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "table" {
			tables = append(tables, f[1]+" "+f[2])
		}
	}
	return tables, nil
}

// iptablesTools are the commands whose chains a run may add to (the kubelet's canary and
// firewall chains).
var iptablesTools = []string{"iptables", "ip6tables"}

// iptablesChains lists the iptables chains as "tool table chain".
func iptablesChains(ctx context.Context) ([]string, error) {
	var chains []string
	for _, tool := range iptablesTools {
		out, err := run(ctx, tool+"-save")
		if err != nil {
			return nil, err
		}
		table := ""
		for line := range strings.Lines(out) {
			switch {
			case strings.HasPrefix(line, "*"):
				table = strings.TrimSpace(line[1:])
			case strings.HasPrefix(line, ":"):
				chains = append(chains, tool+" "+table+" "+strings.Fields(line[1:])[0])
			}
		}
	}
	return chains, nil
}

// removeChains removes the iptables chains the run added: first the rules that jump to them
// from any chain, then their own rules, then the chains.
func (s snapshot) removeChains(ctx context.Context) error {
	chains, err := iptablesChains(ctx)
	if err != nil {
		return err
	}
	newChains := added(chains, s.Chains)
	var errs []error
	for _, c := range newChains {
		f := strings.Fields(c)
		tool, table, chain := f[0], f[1], f[2]
		rules, err := run(ctx, tool, "-t", table, "-S")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for rule := range strings.Lines(rules) {
			r := strings.Fields(rule)
			if len(r) > 2 && r[0] == "-A" && slices.Contains(r, "-j") && r[slices.Index(r, "-j")+1] == chain && r[1] != chain {
				_, err := run(ctx, tool, append([]string{"-t", table, "-D"}, r[1:]...)...)
				errs = append(errs, err)
			}
		}
		_, err = run(ctx, tool, "-t", table, "-F", chain)
		errs = append(errs, err)
	}
	for _, c := range newChains {
		f := strings.Fields(c)
		_, err := run(ctx, f[0], "-t", f[1], "-X", f[2])
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// run runs a command and returns its standard output, or an error with its standard error.
func run(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// statePath is the file that describes the run holding the machine.
func statePath() string { return filepath.Join(cachedir.Dir(), "realnode.state.json") }

// imageName is the name of an image reference of the project's layout, e.g. "gateway" for
// "stablering/gateway:realnode".
func imageName(ref string) string {
	name, _, _ := strings.Cut(path.Base(ref), ":")
	return name
}

// lockMachine takes the machine-wide lock of real-node runs, waiting while another run holds
// it, until ctx ends.
func lockMachine(ctx context.Context) (*os.File, error) {
	dir := cachedir.Dir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "realnode.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for another real-node run to end: %w", ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

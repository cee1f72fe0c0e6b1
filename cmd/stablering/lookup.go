package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stablering/stablering/balancer"
)

// lookupOptions are the parsed flags and keys of the lookup command.
type lookupOptions struct {
	ring         string
	algorithm    string
	replicas     int
	start        int
	virtualNodes int
	unusable     ordinalList
	output       string
	keys         []string
}

// lookupResult is one key's answer in JSON output.
type lookupResult struct {
	Key     string `json:"key"`
	Ordinal int32  `json:"ordinal"`
	Owner   int32  `json:"owner"`
}

// offlineFlags are the lookup flags that describe a ring without a cluster.
var offlineFlags = []string{"algorithm", "replicas", "start", "virtual-nodes", "unusable"}

func newLookupCommand(c *cli) *cobra.Command {
	var opts lookupOptions
	cmd := &cobra.Command{
		Use:   "lookup (--ring RING | --replicas N) [flags] KEY...",
		Short: "print the ordinal that owns each room key, and what the gateways do with it now",
		Long: `Prints where each room KEY goes. Keys that begin with '-' go after "--".

With --ring NAME or NAMESPACE/NAME, it reads the StableRing from the cluster and decides each key
with the gateway's own routing code on the ring's live status: the owner, and what a gateway
answers right now. The answer is "proxy" to the owner, "hold" (503 with Retry-After) while the
owner is draining, restarting or down, "failover" to the next usable member, or "unavailable".
A gateway also holds or fails over a member it could not connect to recently (its passive
health), which only that gateway replica knows and this command does not see.
Output: a KEY OWNER ANSWER table (-o text), or a JSON array of {"key", "owner", "action",
"reason", "member", "pod", "address", "retryAfterSeconds"} (-o json).

Without --ring it needs no cluster: --replicas N (with --start, --algorithm, --virtual-nodes)
describes the ring of a StatefulSet's ordinals start .. start+replicas-1, and it prints the
ordinal that owns each key, exactly as StableRing gateways compute it. With --unusable, a key
whose owner is unusable gets the first usable member in its failover order, as gateways send it
under the Failover policy. Output: "KEY ORDINAL" lines (-o text), or a JSON array of {"key",
"ordinal", "owner"} (-o json), where owner is the ordinal before failover.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.keys = args
			if opts.ring != "" {
				return runLiveLookup(cmd, c, &opts)
			}
			return runOfflineLookup(cmd, &opts)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&opts.ring, "ring", "", "the StableRing in the cluster, `NAME` or NAMESPACE/NAME")
	fs.StringVar(&opts.algorithm, "algorithm", string(balancer.Jump), "hash `algorithm`: "+algorithmNames())
	fs.IntVar(&opts.replicas, "replicas", 0, "`N`umber of ring members, the StatefulSet's replicas (required without --ring)")
	fs.IntVar(&opts.start, "start", 0, "first ordinal, the StatefulSet's ordinals.start")
	fs.IntVar(&opts.virtualNodes, "virtual-nodes", 0,
		fmt.Sprintf("points per member, Ketama only (0 means %d)", balancer.DefaultVirtualNodes))
	fs.Var(&opts.unusable, "unusable", "comma-separated `ordinals` that may not take traffic, e.g. 2,5")
	addOutputFlag(fs, &opts.output, "text", "json")
	return cmd
}

// runOfflineLookup is lookup without --ring.
func runOfflineLookup(cmd *cobra.Command, opts *lookupOptions) error {
	ring, err := parseLookup(opts)
	if err != nil {
		return err
	}
	results := lookup(ring, opts.keys, opts.unusable)
	if err := writeResults(cmd.OutOrStdout(), opts.output, results); err != nil {
		return fmt.Errorf("writing the results: %w", err)
	}
	return nil
}

func algorithmNames() string {
	names := make([]string, 0, len(balancer.Algorithms()))
	for _, a := range balancer.Algorithms() {
		names = append(names, string(a))
	}
	return strings.Join(names, ", ")
}

// parseLookup checks the offline options and builds the ring.
func parseLookup(opts *lookupOptions) (balancer.Ring, error) {
	alg, err := balancer.ParseAlgorithm(opts.algorithm)
	if err != nil {
		return nil, usageErrorf("--algorithm: %w", err)
	}
	switch {
	case opts.replicas < 1 || opts.replicas > balancer.MaxMembers:
		return nil, usageErrorf("--replicas must be from 1 to %d (got %d)", balancer.MaxMembers, opts.replicas)
	case opts.start < 0 || int64(opts.start)+int64(opts.replicas)-1 > math.MaxInt32:
		return nil, usageErrorf("--start %d with --replicas %d is outside the ordinals 0 to %d", opts.start, opts.replicas, math.MaxInt32)
	}
	if err := checkKeysAndOutput(opts); err != nil {
		return nil, err
	}
	if err := checkUnusable(opts.unusable, int32(opts.start), int32(opts.replicas)); err != nil {
		return nil, err
	}
	members := make([]int32, opts.replicas)
	for i := range members {
		members[i] = int32(opts.start + i)
	}
	ring, err := balancer.New(balancer.Config{
		Algorithm:    alg,
		Start:        int32(opts.start),
		Members:      members,
		VirtualNodes: opts.virtualNodes,
	})
	if err != nil {
		return nil, usageError{err}
	}
	return ring, nil
}

// checkKeysAndOutput checks what both forms of lookup need: keys and a known output format.
func checkKeysAndOutput(opts *lookupOptions) error {
	if err := checkOutput(opts.output, "text", "json"); err != nil {
		return err
	}
	if len(opts.keys) == 0 {
		return usageErrorf("no keys given")
	}
	return nil
}

// checkUnusable checks that every unusable ordinal is a member and that one member is usable.
func checkUnusable(unusable ordinalList, start, replicas int32) error {
	last := start + replicas - 1
	for o := range unusable {
		if o < start || o > last {
			return usageErrorf("--unusable: %d is not a member (the members are %d to %d)", o, start, last)
		}
	}
	if len(unusable) == int(replicas) {
		return usageErrorf("--unusable lists every member, so no key has a usable member")
	}
	return nil
}

// lookup returns each key's owner and pick.
func lookup(ring balancer.Ring, keys []string, unusable ordinalList) []lookupResult {
	results := make([]lookupResult, len(keys))
	for i, k := range keys {
		owner, _ := ring.Owner(k)
		ordinal, _ := ring.Pick(k, unusable) // checkUnusable left a usable member
		results[i] = lookupResult{Key: k, Ordinal: ordinal, Owner: owner}
	}
	return results
}

func writeResults(w io.Writer, format string, results []lookupResult) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	}
	for _, r := range results {
		if _, err := fmt.Fprintf(w, "%s %d\n", r.Key, r.Ordinal); err != nil {
			return err
		}
	}
	return nil
}

// ordinalList is a set of ordinals given as a comma-separated list flag. It is a
// balancer.Usable: its ordinals are unusable.
type ordinalList map[int32]bool

func (l *ordinalList) String() string {
	var ordinals []string
	for _, o := range slices.Sorted(maps.Keys(*l)) {
		ordinals = append(ordinals, strconv.Itoa(int(o)))
	}
	return strings.Join(ordinals, ",")
}

// Set parses a list such as "2,5". Repeating the flag adds to the list.
func (l *ordinalList) Set(s string) error {
	if *l == nil {
		*l = ordinalList{}
	}
	for field := range strings.SplitSeq(s, ",") {
		o, err := strconv.ParseInt(strings.TrimSpace(field), 10, 32)
		if err != nil || o < 0 {
			return fmt.Errorf("%q is not an ordinal (want a list such as 2,5)", field)
		}
		(*l)[int32(o)] = true
	}
	return nil
}

// Type names the flag's values in usage messages.
func (l *ordinalList) Type() string { return "ordinals" }

// Usable reports whether ordinal is not in the list.
func (l ordinalList) Usable(ordinal int32) bool { return !l[ordinal] }

package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/stablering/stablering/balancer"
)

const lookupUsage = `usage: stablering lookup --replicas N [flags] KEY...

Prints the ordinal that owns each room KEY on the ring of a StatefulSet's ordinals
start .. start+replicas-1, exactly as StableRing gateways compute it. With --unusable, a key
whose owner is unusable gets the first usable member in its failover order, as gateways send
it under the Failover policy. Keys that begin with '-' go after "--".

Output: "KEY ORDINAL" lines (-o text), or a JSON array of {"key", "ordinal", "owner"} (-o json),
where owner is the ordinal before failover.

Flags:
`

// lookupOptions are the parsed flags and keys of the lookup command.
type lookupOptions struct {
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

// runLookup is the lookup command.
func runLookup(args []string, stdout, stderr io.Writer) int {
	var opts lookupOptions
	fs := lookupFlags(&opts)
	ring, err := parseLookup(fs, &opts, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, lookupUsage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "stablering lookup: %v\n", err)
		fmt.Fprintln(stderr, "usage: stablering lookup --replicas N [flags] KEY... (see 'stablering lookup --help')")
		return 2
	}
	results := lookup(ring, opts.keys, opts.unusable)
	if err := writeResults(stdout, opts.output, results); err != nil {
		fmt.Fprintf(stderr, "stablering lookup: writing the results: %v\n", err)
		return 1
	}
	return 0
}

// lookupFlags defines the lookup flags, stored in opts.
func lookupFlags(opts *lookupOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("lookup", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // runLookup reports errors and usage itself
	fs.StringVar(&opts.algorithm, "algorithm", string(balancer.Jump), "hash `algorithm`: "+algorithmNames())
	fs.IntVar(&opts.replicas, "replicas", 0, "`N`umber of ring members, the StatefulSet's replicas (required)")
	fs.IntVar(&opts.start, "start", 0, "first ordinal, the StatefulSet's ordinals.start")
	fs.IntVar(&opts.virtualNodes, "virtual-nodes", 0,
		fmt.Sprintf("points per member, Ketama only (0 means %d)", balancer.DefaultVirtualNodes))
	fs.Var(&opts.unusable, "unusable", "comma-separated `ordinals` that may not take traffic, e.g. 2,5")
	fs.StringVar(&opts.output, "o", "text", "output `format`: text or json")
	return fs
}

func algorithmNames() string {
	names := make([]string, 0, len(balancer.Algorithms()))
	for _, a := range balancer.Algorithms() {
		names = append(names, string(a))
	}
	return strings.Join(names, ", ")
}

// parseLookup parses args into opts, checks them and builds the ring.
func parseLookup(fs *flag.FlagSet, opts *lookupOptions, args []string) (balancer.Ring, error) {
	keys, err := parseInterspersed(fs, args)
	if err != nil {
		return nil, err
	}
	opts.keys = keys
	alg, err := balancer.ParseAlgorithm(opts.algorithm)
	if err != nil {
		return nil, fmt.Errorf("--algorithm: %w", err)
	}
	switch {
	case opts.replicas < 1 || opts.replicas > balancer.MaxMembers:
		return nil, fmt.Errorf("--replicas must be from 1 to %d (got %d)", balancer.MaxMembers, opts.replicas)
	case opts.start < 0 || int64(opts.start)+int64(opts.replicas)-1 > math.MaxInt32:
		return nil, fmt.Errorf("--start %d with --replicas %d is outside the ordinals 0 to %d", opts.start, opts.replicas, math.MaxInt32)
	case opts.output != "text" && opts.output != "json":
		return nil, fmt.Errorf("-o must be text or json (got %q)", opts.output)
	case len(opts.keys) == 0:
		return nil, errors.New("no keys given")
	}
	if err := checkUnusable(opts.unusable, int32(opts.start), int32(opts.replicas)); err != nil {
		return nil, err
	}
	members := make([]int32, opts.replicas)
	for i := range members {
		members[i] = int32(opts.start + i)
	}
	return balancer.New(balancer.Config{
		Algorithm:    alg,
		Start:        int32(opts.start),
		Members:      members,
		VirtualNodes: opts.virtualNodes,
	})
}

// parseInterspersed parses the flags in args wherever they are among the positional arguments
// and returns the positional arguments. Everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" || len(rest) == 0 {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// checkUnusable checks that every unusable ordinal is a member and that one member is usable.
func checkUnusable(unusable ordinalList, start, replicas int32) error {
	last := start + replicas - 1
	for o := range unusable {
		if o < start || o > last {
			return fmt.Errorf("--unusable: %d is not a member (the members are %d to %d)", o, start, last)
		}
	}
	if len(unusable) == int(replicas) {
		return errors.New("--unusable lists every member, so no key has a usable member")
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

// Usable reports whether ordinal is not in the list.
func (l ordinalList) Usable(ordinal int32) bool { return !l[ordinal] }

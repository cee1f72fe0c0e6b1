package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/stablering/stablering/balancer"
	"github.com/stablering/stablering/balancer/ringstats"
	"github.com/stablering/stablering/ringhash"
)

// syntheticKeys is how many keys moves compares without --keys-file.
const syntheticKeys = 10000

// movesReport is the answer of moves, as JSON.
type movesReport struct {
	Ring      string  `json:"ring"`
	Algorithm string  `json:"algorithm"`
	Members   []int32 `json:"members"`
	// MembersAfter are the members of the ring with the asked replicas.
	MembersAfter []int32 `json:"membersAfter"`
	Keys         int     `json:"keys"`
	Moved        int     `json:"moved"`
	// MovedToNew counts the moved keys whose new owner is not a member now.
	MovedToNew int     `json:"movedToNew"`
	Share      float64 `json:"share"`
	// Moves lists the moved keys of --keys-file; empty for the synthetic keys.
	Moves []keyMove `json:"moves,omitempty"`
}

// keyMove is one key that changes owner.
type keyMove struct {
	Key  string `json:"key"`
	From int32  `json:"from"`
	To   int32  `json:"to"`
}

func newMovesCommand(c *cli) *cobra.Command {
	var ring, keysFile, output string
	var replicas int
	cmd := &cobra.Command{
		Use:   "moves --ring RING --replicas N [--keys-file FILE]",
		Short: "show which room keys would change owner if a ring had N replicas",
		Long: `Compares the ring of the StableRing RING as gateways route it now (its joined members, from
its MemberSlices) with the same ring scaled to N replicas (ordinals start .. start+N-1), and prints
how many room keys would change owner, and their share. With --keys-file (one key a line) it
compares those keys and lists the ones that move; without, it compares ` + fmt.Sprint(syntheticKeys) + ` synthetic keys "room-0", "room-1", ...`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "text", "json"); err != nil {
				return err
			}
			if ring == "" {
				return usageErrorf("--ring is required")
			}
			if replicas < 1 || replicas > balancer.MaxMembers {
				return usageErrorf("--replicas must be from 1 to %d (got %d)", balancer.MaxMembers, replicas)
			}
			keys := ringstats.Keys(syntheticKeys)
			if keysFile != "" {
				var err error
				if keys, err = readKeys(keysFile); err != nil {
					return err
				}
			}
			sr, err := c.getResolvedRing(cmd.Context(), ring)
			if err != nil {
				return err
			}
			before := ringhash.Config(sr.Status.Hash, sr.Status.OrdinalsStart, sr.Members)
			report, err := compareRings(sr.Namespace+"/"+sr.Name, before, replicas, keys, keysFile != "")
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(report)
			}
			return report.writeText(cmd.OutOrStdout(), keysFile)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&ring, "ring", "", "the StableRing in the cluster, `NAME` or NAMESPACE/NAME (required)")
	fs.IntVar(&replicas, "replicas", 0, "the replicas to compare with (required)")
	fs.StringVar(&keysFile, "keys-file", "", "`file` of room keys, one a line (default: synthetic keys)")
	addOutputFlag(fs, &output, "text", "json")
	return cmd
}

// compareRings compares the ring before with the same ring over replicas ordinals from its
// start, on keys; list asks for the moved keys.
func compareRings(id string, before balancer.Config, replicas int, keys []string, list bool) (*movesReport, error) {
	after := before
	after.Members = make([]int32, replicas)
	for i := range after.Members {
		after.Members[i] = before.Start + int32(i)
	}
	now, err := balancer.New(before)
	if err != nil {
		return nil, fmt.Errorf("ring %s now: %w", id, err)
	}
	scaled, err := balancer.New(after)
	if err != nil {
		return nil, fmt.Errorf("ring %s with %d replicas: %w", id, replicas, err)
	}
	mv := ringstats.Move(now, scaled, keys)
	report := &movesReport{
		Ring: id, Algorithm: string(before.Algorithm), Members: before.Members, MembersAfter: after.Members,
		Keys: mv.Keys, Moved: mv.Moved, MovedToNew: mv.ToNew, Share: mv.Fraction(),
	}
	for _, k := range keys {
		from, _ := now.Owner(k)
		if to, _ := scaled.Owner(k); list && to != from {
			report.Moves = append(report.Moves, keyMove{Key: k, From: from, To: to})
		}
	}
	return report, nil
}

// writeText prints the counts, and the moved keys of keysFile if there is one.
func (r *movesReport) writeText(w io.Writer, keysFile string) error {
	fmt.Fprintf(w, "ring %s (%s): %d members now %v, %d with the asked replicas\n",
		r.Ring, r.Algorithm, len(r.Members), r.Members, len(r.MembersAfter))
	source := fmt.Sprintf("synthetic keys room-0 .. room-%d", r.Keys-1)
	if keysFile != "" {
		source = "keys of " + keysFile
	}
	fmt.Fprintf(w, "%d of %d %s move (%.1f%%), %d of them to members that are new\n",
		r.Moved, r.Keys, source, 100*r.Share, r.MovedToNew)
	if len(r.Moves) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "\nKEY\tFROM\tTO")
	for _, m := range r.Moves {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", m.Key, m.From, m.To)
	}
	return tw.Flush()
}

// readKeys reads the non-empty lines of path.
func readKeys(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usageError{err}
	}
	defer f.Close()
	var keys []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); line != "" {
			keys = append(keys, line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(keys) == 0 {
		return nil, usageErrorf("%s has no keys", path)
	}
	return slices.Clip(keys), nil
}

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/stablering/stablering/gateway/resolved"
	"github.com/stablering/stablering/gateway/route"
)

// liveAnswer is what a gateway does with one key of a ring in the cluster, in JSON output.
type liveAnswer struct {
	Key string `json:"key"`
	// Owner is the key's owner on the ring; nil when the ring has no joined member.
	Owner *int32 `json:"owner"`
	// Action is proxy, hold or unavailable (route.Action's names).
	Action string `json:"action"`
	// Reason is why (route.Reason's names): owner, failover, draining, restarting, down, ...
	Reason string `json:"reason"`
	// Member is the member proxied to, or whose rooms are held; nil otherwise.
	Member  *int32 `json:"member"`
	Pod     string `json:"pod,omitempty"`
	Address string `json:"address,omitempty"`
	// RetryAfterSeconds is the Retry-After of a hold or unavailable answer, before jitter.
	RetryAfterSeconds int `json:"retryAfterSeconds,omitempty"`
	// text is the answer in words, for -o text.
	text string
}

// runLiveLookup is lookup --ring: the gateway's routing decision for each key, on the ring as it
// is resolved in the cluster now.
func runLiveLookup(cmd *cobra.Command, c *cli, opts *lookupOptions) error {
	for _, name := range offlineFlags {
		if cmd.Flags().Changed(name) {
			return usageErrorf("--%s describes a ring without a cluster; it does not go with --ring", name)
		}
	}
	if err := checkKeysAndOutput(opts); err != nil {
		return err
	}
	ring, err := c.getResolvedRing(cmd.Context(), opts.ring)
	if err != nil {
		return err
	}
	answers, err := decideKeys(ring, opts.keys, c.now())
	if err != nil {
		return err
	}
	if opts.output == "json" {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(answers)
	}
	return writeAnswers(cmd.OutOrStdout(), answers)
}

// decideKeys decides each key on in at now with the gateway's routing table, without passive
// health (which each gateway replica keeps for itself).
func decideKeys(in *resolved.Ring, keys []string, now time.Time) ([]liveAnswer, error) {
	table := route.Build([]resolved.Ring{*in}, nil, now)
	ring := table.Ring(in.Namespace + "/" + in.Name)
	if ring.Err != nil {
		return nil, fmt.Errorf("gateways cannot route ring %s: %w", ring.ID, ring.Err)
	}
	answers := make([]liveAnswer, len(keys))
	for i, key := range keys {
		d := ring.DecideKey(key, now, nil)
		a := liveAnswer{
			Key:               key,
			Action:            d.Action.String(),
			Reason:            d.Reason.String(),
			RetryAfterSeconds: int(math.Ceil(d.RetryAfter.Seconds())),
		}
		if d.Owner != nil {
			a.Owner = &d.Owner.Ordinal
		}
		if d.Member != nil {
			a.Member, a.Pod, a.Address = &d.Member.Ordinal, d.Member.Pod, d.Member.Address
		}
		a.text = describe(d, a.RetryAfterSeconds)
		answers[i] = a
	}
	return answers, nil
}

// writeAnswers prints a KEY OWNER ANSWER table.
func writeAnswers(w io.Writer, answers []liveAnswer) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY\tOWNER\tANSWER")
	for _, a := range answers {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Key, ordinalOrNone(a.Owner), a.text)
	}
	return tw.Flush()
}

// describe says what the gateway answers, e.g. "proxy to 2 (chat-2 10.0.0.7:8080)" or
// "hold: draining, retry after 4s".
func describe(d route.Decision, retryAfter int) string {
	switch {
	case d.Action == route.Proxy && d.Reason == route.ReasonFailover:
		return fmt.Sprintf("failover to %d (%s %s)", d.Member.Ordinal, d.Member.Pod, d.Member.Address)
	case d.Action == route.Proxy:
		return fmt.Sprintf("proxy to %d (%s %s)", d.Member.Ordinal, d.Member.Pod, d.Member.Address)
	default:
		return fmt.Sprintf("%s: %s, retry after %ds", d.Action, d.Reason, retryAfter)
	}
}

func ordinalOrNone(o *int32) string {
	if o == nil {
		return "-"
	}
	return fmt.Sprint(*o)
}

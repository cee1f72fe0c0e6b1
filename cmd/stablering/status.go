package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/yaml"

	"github.com/stablering/stablering/api/v1alpha1"
)

func newStatusCommand(c *cli) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status RING",
		Short: "show a ring's members, its rollout and its conditions",
		Long: `Shows the StableRing RING (NAME, or NAMESPACE/NAME) as the controller resolved it, on one screen:
its members (ordinal, pod, address, state, revision and time in state), the rollout (phase,
batch, the batch's members, the step and time in step, the revisions) and the conditions.
-o yaml or -o json prints the whole StableRing instead.`,
		Args: oneRing,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "text", "yaml", "json"); err != nil {
				return err
			}
			sr, _, err := c.getRing(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return writeRing(cmd.OutOrStdout(), output, sr, c.now())
		},
	}
	addOutputFlag(cmd.Flags(), &output, "text", "yaml", "json")
	return cmd
}

// writeRing prints sr in format text, yaml or json; now is when the text's ages end.
func writeRing(w io.Writer, format string, sr *v1alpha1.StableRing, now time.Time) error {
	sr = sr.DeepCopy()
	sr.ManagedFields = nil
	sr.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("StableRing"))
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(sr)
	case "yaml":
		data, err := yaml.Marshal(sr)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}
	return writeRingText(w, sr, now)
}

// writeRingText prints the ring's summary, members, rollout and conditions.
func writeRingText(w io.Writer, sr *v1alpha1.StableRing, now time.Time) error {
	st := &sr.Status
	algorithm := sr.Spec.Hash.Algorithm
	if st.Hash != nil {
		algorithm = st.Hash.Algorithm
	}
	fmt.Fprintf(w, "StableRing %s/%s: StatefulSet %s, %s, ring version %s\n",
		sr.Namespace, sr.Name, sr.Spec.StatefulSetName, algorithm, orNone(st.RingVersion))
	fmt.Fprintf(w, "Members: %d serving, %d updated, of %d replicas", st.ReadyMembers, st.UpdatedMembers, st.Replicas)
	if st.ObservedGeneration != sr.Generation {
		fmt.Fprintf(w, " (status of generation %d; the spec is at %d)", st.ObservedGeneration, sr.Generation)
	}
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ORDINAL\tPOD\tADDRESS\tSTATE\tREVISION\tSINCE")
	for _, m := range st.Members {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", m.Ordinal, m.Pod, orNone(m.Address), m.State, orNone(m.Revision), age(m.LastTransitionTime, now))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nRollout: %s\n", rolloutLine(sr, now))

	fmt.Fprintln(w, "\nConditions:")
	tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tSTATUS\tREASON\tAGE\tMESSAGE")
	for _, cond := range st.Conditions {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cond.Type, cond.Status, cond.Reason, age(&cond.LastTransitionTime, now), cond.Message)
	}
	return tw.Flush()
}

// rolloutLine describes the rollout in one line, e.g. "Progressing, batch 2: members [5 4]
// Draining for 3s; revision chat-6f7 -> chat-8a9, batches of 2".
func rolloutLine(sr *v1alpha1.StableRing, now time.Time) string {
	r := sr.Status.Rollout
	if r == nil {
		return "not resolved yet"
	}
	var b strings.Builder
	b.WriteString(string(r.Phase))
	if r.Phase == v1alpha1.RolloutComplete {
		fmt.Fprintf(&b, " at revision %s", orNone(r.UpdateRevision))
	} else if r.Phase != v1alpha1.RolloutDisabled {
		fmt.Fprintf(&b, ", batch %d", r.Batch)
		if len(r.BatchMembers) > 0 {
			fmt.Fprintf(&b, ": members %v", r.BatchMembers)
		}
		if r.Step != "" {
			fmt.Fprintf(&b, " %s for %s", r.Step, age(r.StepStartTime, now))
		}
		fmt.Fprintf(&b, "; revision %s -> %s", orNone(r.CurrentRevision), orNone(r.UpdateRevision))
	}
	if sr.Spec.Rollout.Paused && r.Phase != v1alpha1.RolloutPaused {
		b.WriteString(" (paused: stops after the current batch)")
	}
	return b.String()
}

// age is the time from t to now as kubectl prints ages, or "-" without t.
func age(t *metav1.Time, now time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/stablering/stablering/api/v1alpha1"
)

func newStatusCommand(c *cli) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status RING",
		Short: "show a ring's members, its rollout and its conditions",
		Long: `Shows the StableRing RING (NAME, or NAMESPACE/NAME) as the controller resolved it, on one screen:
its members (ordinal, pod, address, state and time in state, from its MemberSlices, and the pod's
revision, read from the pods), the rollout (phase,
batch, the batch's members, the step and time in step, the revisions) and the conditions.
-o yaml or -o json prints the whole StableRing instead (its members are in its MemberSlices:
kubectl get memberslices).`,
		Args: oneRing,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "text", "yaml", "json"); err != nil {
				return err
			}
			if output != "text" {
				sr, _, err := c.getRing(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return writeRing(cmd.OutOrStdout(), output, sr, memberList{}, revisions{}, c.now())
			}
			sr, members, k8s, err := c.getRingAndMembers(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return writeRing(cmd.OutOrStdout(), output, sr, members, podRevisions(cmd.Context(), k8s, sr), c.now())
		},
	}
	addOutputFlag(cmd.Flags(), &output, "text", "yaml", "json")
	return cmd
}

// revisions are the controller revisions of a ring's pods, by pod name, for the text output;
// err says why they are unknown.
type revisions struct {
	byPod map[string]string
	err   error
}

// podRevisions reads the revisions of the pods of sr's StatefulSet. Status does not list them:
// they would add to every status write (see v1alpha1.Member).
func podRevisions(ctx context.Context, k8s client.Client, sr *v1alpha1.StableRing) revisions {
	sts := &appsv1.StatefulSet{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: sr.Namespace, Name: sr.Spec.StatefulSetName}, sts); err != nil {
		return revisions{err: fmt.Errorf("StatefulSet %s: %w", sr.Spec.StatefulSetName, err)}
	}
	selector, err := metav1.LabelSelectorAsSelector(sts.Spec.Selector)
	if err != nil {
		return revisions{err: fmt.Errorf("the selector of StatefulSet %s: %w", sts.Name, err)}
	}
	pods := &corev1.PodList{}
	if err := k8s.List(ctx, pods, client.InNamespace(sr.Namespace), client.MatchingLabelsSelector{Selector: selector}); err != nil {
		return revisions{err: fmt.Errorf("the pods of StatefulSet %s: %w", sts.Name, err)}
	}
	byPod := make(map[string]string, len(pods.Items))
	for _, p := range pods.Items {
		byPod[p.Name] = p.Labels[appsv1.ControllerRevisionHashLabelKey]
	}
	return revisions{byPod: byPod}
}

// writeRing prints sr in format text, yaml or json; members are its members and revs the pods'
// revisions (text only), and now is when the text's ages end.
func writeRing(w io.Writer, format string, sr *v1alpha1.StableRing, members memberList, revs revisions, now time.Time) error {
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
	return writeRingText(w, sr, members, revs, now)
}

// writeRingText prints the ring's summary, members, rollout and conditions. When the members are
// unknown it says why in their place, and prints the rest.
func writeRingText(w io.Writer, sr *v1alpha1.StableRing, members memberList, revs revisions, now time.Time) error {
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

	if members.err != nil {
		fmt.Fprintf(w, "(members unknown: %v)\n", members.err)
	} else if err := writeMembers(w, sr, members.list, revs, now); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nRollout: %s\n", rolloutLine(sr, now))

	fmt.Fprintln(w, "\nConditions:")
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tSTATUS\tREASON\tAGE\tMESSAGE")
	for _, cond := range st.Conditions {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cond.Type, cond.Status, cond.Reason, age(&cond.LastTransitionTime, now), cond.Message)
	}
	return tw.Flush()
}

// writeMembers prints the members table of sr, and why the revisions are unknown if they are.
func writeMembers(w io.Writer, sr *v1alpha1.StableRing, members []v1alpha1.Member, revs revisions, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ORDINAL\tPOD\tADDRESS\tSTATE\tREVISION\tSINCE")
	for _, m := range members {
		pod := sr.PodName(m.Ordinal)
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", m.Ordinal, pod, orNone(m.Address), m.State, orNone(revs.byPod[pod]), age(m.LastTransitionTime, now))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if revs.err != nil {
		fmt.Fprintf(w, "(revisions unknown: %v)\n", revs.err)
	}
	return nil
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

package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func newPauseCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "pause RING",
		Short: "stop a ring's rollout after the current batch (spec.rollout.paused)",
		Long: `Sets spec.rollout.paused on the StableRing RING (NAME, or NAMESPACE/NAME): the controller
finishes the batch in flight and replaces no more pods until the ring is resumed. The rollout's
phase becomes Paused.`,
		Args: oneRing,
		RunE: func(cmd *cobra.Command, args []string) error { return setPaused(cmd, c, args[0], true) },
	}
}

func newResumeCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "resume RING",
		Short: "let a paused rollout go on",
		Long:  `Clears spec.rollout.paused on the StableRing RING (NAME, or NAMESPACE/NAME): the controller goes on with the rollout.`,
		Args:  oneRing,
		RunE:  func(cmd *cobra.Command, args []string) error { return setPaused(cmd, c, args[0], false) },
	}
}

// setPaused sets spec.rollout.paused of ring ref to paused.
func setPaused(cmd *cobra.Command, c *cli, ref string, paused bool) error {
	sr, k8s, err := c.getRing(cmd.Context(), ref)
	if err != nil {
		return err
	}
	verb := map[bool]string{true: "paused", false: "resumed"}[paused]
	if sr.Spec.Rollout.Paused == paused {
		_, err := fmt.Fprintf(cmd.OutOrStdout(), "stablering %s/%s already %s\n", sr.Namespace, sr.Name, verb)
		return err
	}
	patch := fmt.Appendf(nil, `{"spec":{"rollout":{"paused":%t}}}`, paused)
	if err := k8s.Patch(cmd.Context(), sr, client.RawPatch(client.Merge.Type(), patch)); err != nil {
		return fmt.Errorf("StableRing %s/%s: %w", sr.Namespace, sr.Name, err)
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "stablering %s/%s %s\n", sr.Namespace, sr.Name, verb)
	return err
}

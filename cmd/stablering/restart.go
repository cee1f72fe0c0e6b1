package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/stablering/stablering/api/v1alpha1"
)

// restartedAtAnnotation is the pod template annotation `kubectl rollout restart` sets; setting
// it gives the StatefulSet a new revision without another change.
const restartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

func newRestartCommand(c *cli) *cobra.Command {
	return &cobra.Command{
		Use:   "restart RING",
		Short: "replace every pod of a ring, paced as a rollout",
		Long: `Starts a rollout of the StableRing RING (NAME, or NAMESPACE/NAME) without a change to its pods:
as kubectl rollout restart does, it sets the annotation ` + restartedAtAnnotation + ` on the
StatefulSet's pod template to the current time, which gives the StatefulSet a new revision. With
the OnDelete update strategy the controller then replaces the pods as for any other change, in
batches of spec.rollout.batchSize, each drained first; with RollingUpdate the StatefulSet
controller replaces them itself, unpaced. Follow it with "status RING".`,
		Args: oneRing,
		RunE: func(cmd *cobra.Command, args []string) error {
			sr, k8s, err := c.getRing(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if err := restartStatefulSet(cmd, k8s, sr, c.now()); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "statefulset %s/%s restarted\n", sr.Namespace, sr.Spec.StatefulSetName)
			if r := sr.Status.Rollout; r != nil && r.Phase == v1alpha1.RolloutDisabled {
				fmt.Fprintln(out, "its update strategy is not OnDelete: the StatefulSet controller replaces the pods, unpaced")
			}
			return nil
		},
	}
}

// restartStatefulSet stamps the pod template of sr's StatefulSet with now.
func restartStatefulSet(cmd *cobra.Command, k8s client.Client, sr *v1alpha1.StableRing, now time.Time) error {
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
		"annotations": map[string]string{restartedAtAnnotation: now.Format(time.RFC3339)},
	}}}})
	if err != nil {
		return err
	}
	sts := &appsv1.StatefulSet{}
	sts.Namespace, sts.Name = sr.Namespace, sr.Spec.StatefulSetName
	if err := k8s.Patch(cmd.Context(), sts, client.RawPatch(types.StrategicMergePatchType, patch)); err != nil {
		return fmt.Errorf("StatefulSet %s/%s: %w", sts.Namespace, sts.Name, err)
	}
	return nil
}

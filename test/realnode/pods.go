package realnode

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	corev1 "k8s.io/api/core/v1"
)

// Operations on the node's pods that the API does not offer: what a failing process or a broken
// network does to a pod.

// KillContainer sends sig to every process of the pod's container (found by its container ID in
// the kubelet's cgroups) and returns their pids.
func (c *Cluster) KillContainer(pod *corev1.Pod, container string, sig syscall.Signal) ([]int, error) {
	id := ""
	for _, s := range pod.Status.ContainerStatuses {
		if s.Name == container {
			_, id, _ = strings.Cut(s.ContainerID, "://")
		}
	}
	if id == "" {
		return nil, fmt.Errorf("pod %s/%s has no running container %s", pod.Namespace, pod.Name, container)
	}
	var pids []int
	for _, cg := range cgroupDirs() {
		if filepath.Base(cg) != id {
			continue
		}
		data, err := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
		if err != nil {
			return nil, err
		}
		for f := range strings.FieldsSeq(string(data)) {
			pid, _ := strconv.Atoi(f)
			pids = append(pids, pid)
		}
		break // every hierarchy holds the same processes
	}
	if len(pids) == 0 {
		return nil, fmt.Errorf("no process of container %s (%s) of pod %s/%s", container, id, pod.Namespace, pod.Name)
	}
	var errs []error
	for _, pid := range pids {
		if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, err)
		}
	}
	return pids, errors.Join(errs...)
}

// BlockProbes drops (block) or lets through again the node's own packets to podIP:port, so that
// the kubelet's probes of that port fail while the pod's process and its other traffic (from
// other pods, over the bridge) carry on.
func (c *Cluster) BlockProbes(ctx context.Context, podIP string, port int, block bool) error {
	op := "delete"
	if block {
		op = "add"
	}
	_, err := run(ctx, "nft", op, "element", "inet", nftTable, blockedSet, fmt.Sprintf("{ %s . %d }", podIP, port))
	return err
}

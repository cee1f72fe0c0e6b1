package realnode

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// setupNetwork makes the run's bridge with the node's address, lets packets that enter the
// bridge be forwarded (a pod reaching a ClusterIP that kube-proxy translates back to a pod; the
// machine's global ip_forward is left alone), routes the Service range to the bridge (so a
// ClusterIP that kube-proxy has not programmed yet never leaves by the default route), and adds
// the run's nftables table, which drops anything forwarded from the bridge to another interface
// (pods cannot reach beyond the machine) and the node's own packets to the pod ports in its
// blocked set.
func setupNetwork(ctx context.Context, n network) error {
	steps := [][]string{
		{"ip", "link", "add", n.Bridge, "type", "bridge"},
		{"ip", "addr", "add", fmt.Sprintf("%s/%d", n.NodeIP, n.PodSubnet.Bits()), "dev", n.Bridge},
		{"ip", "link", "set", n.Bridge, "up"},
		{"ip", "route", "replace", n.ServiceSubnet.String(), "dev", n.Bridge},
	}
	for _, s := range steps {
		if _, err := run(ctx, s[0], s[1:]...); err != nil {
			return err
		}
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/conf/"+n.Bridge+"/forwarding", []byte("1"), 0o644); err != nil {
		return err
	}
	return runWithInput(ctx, nftRules(n), "nft", "-f", "-")
}

// blockedSet holds the pod address and port pairs that the node's own packets may not reach
// (see Cluster.BlockProbes).
const blockedSet = "blocked"

// nftRules is the run's nftables table.
func nftRules(n network) string {
	return strings.Join([]string{
		"table inet " + nftTable + " {",
		"  chain forward {",
		"    type filter hook forward priority 10; policy accept;",
		fmt.Sprintf("    iifname %q oifname != %q drop", n.Bridge, n.Bridge),
		"  }",
		"  set " + blockedSet + " {",
		"    type ipv4_addr . inet_service;",
		"  }",
		"  chain output {",
		"    type filter hook output priority 10; policy accept;",
		"    ip daddr . tcp dport @" + blockedSet + " drop",
		"  }",
		"}",
		"",
	}, "\n")
}

// runWithInput runs a command with input on its standard input.
func runWithInput(ctx context.Context, input, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(input)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Package monitoring checks what the chart ships to monitor StableRing, from
// charts/stablering/files: the alert rules (prometheus-rules.yaml), with Prometheus's promtool,
// and the Grafana dashboard (grafana-dashboard.json), whose queries must be valid PromQL and, like
// the rules', ask only for metrics that a running manager or gateway exports.
package monitoring

import "github.com/stablering/stablering/test/internal/gobinary"

// PromtoolVersion is the Prometheus module version `make promtool` builds by default (v0.316.0 is
// Prometheus 3.16.0). Keep it in sync with PROMTOOL_VERSION in the Makefile.
const PromtoolVersion = "v0.316.0"

// Promtool is Prometheus's promtool as `make promtool` builds it; $STABLERING_PROMTOOL (make test
// sets it) overrides where it is.
var Promtool = gobinary.Command{Name: "promtool", Version: PromtoolVersion, Env: "STABLERING_PROMTOOL", MakeTarget: "promtool"}

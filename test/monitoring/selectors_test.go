package monitoring

import (
	"slices"
	"testing"
)

func TestMetricNames(t *testing.T) {
	cases := []struct {
		expr string
		want []string
	}{
		{`up`, []string{"up"}},
		{`stablering_gateway_ready == 0`, []string{"stablering_gateway_ready"}},
		{`count by (ring) (count by (ring, version) (stablering_gateway_ring_info)) > 1`, []string{"stablering_gateway_ring_info"}},
		{`sum by (ring, reason) (rate(stablering_gateway_held_total{reason=~"no_members|a{b}"}[5m])) > 0`, []string{"stablering_gateway_held_total"}},
		{`histogram_quantile(0.99, sum by (le) (rate(x_bucket{ring=~"$ring"}[$__rate_interval])))`, []string{"x_bucket"}},
		{`sum(rate(x_sum[5m])) / sum without (instance) (rate(x_count[5m]))`, []string{"x_count", "x_sum"}},
		{`a and on (ring) b or ignoring (x) group_left (y) c unless d offset 5m`, []string{"a", "b", "c", "d"}},
		{`max(leader_election_master_status{name="stablering-manager.ring.stablering.io"}) < 1e0`, []string{"leader_election_master_status"}},
		{"sum(a) # the sum of b\n+ sum(a)", []string{"a"}},
		{`topk(3, a:recorded:rate5m) > bool .5`, []string{"a:recorded:rate5m"}},
	}
	for _, c := range cases {
		got, err := MetricNames(c.expr)
		if err != nil {
			t.Errorf("MetricNames(%q): %v", c.expr, err)
			continue
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("MetricNames(%q) = %q, want %q", c.expr, got, c.want)
		}
	}
}

func TestMetricNamesRejectsWhatItCannotRead(t *testing.T) {
	for _, expr := range []string{
		`{__name__="up"}`,
		`sum($metric)`,
		`a{ring="x}`,
		`rate(a[5m)`,
	} {
		if got, err := MetricNames(expr); err == nil {
			t.Errorf("MetricNames(%q) = %q, want an error", expr, got)
		}
	}
}

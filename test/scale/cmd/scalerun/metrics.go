package main

import (
	"math"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metric names the harness reads.
const (
	reconcileTime = "controller_runtime_reconcile_time_seconds"
	ringInfo      = "stablering_gateway_ring_info"
)

// families parses Prometheus text.
func families(text string) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(strings.NewReader(text))
}

// histogram is a cumulative histogram: counts of observations at most each upper bound.
type histogram struct {
	bounds []float64
	counts []float64
}

// reconcileHistogram returns the StableRing controller's reconcile time histogram.
func reconcileHistogram(text string) (histogram, error) {
	fams, err := families(text)
	if err != nil {
		return histogram{}, err
	}
	var h histogram
	for _, m := range fams[reconcileTime].GetMetric() {
		if !hasLabel(m, "controller", "stablering") {
			continue
		}
		for _, b := range m.GetHistogram().GetBucket() {
			h.bounds = append(h.bounds, b.GetUpperBound())
			h.counts = append(h.counts, float64(b.GetCumulativeCount()))
		}
	}
	return h, nil
}

// minus returns the observations of h that were not yet in before.
func (h histogram) minus(before histogram) histogram {
	out := histogram{bounds: h.bounds, counts: slices.Clone(h.counts)}
	if len(before.counts) == len(h.counts) {
		for i := range out.counts {
			out.counts[i] -= before.counts[i]
		}
	}
	return out
}

// quantile estimates the q-quantile by linear interpolation within the bucket, as Prometheus's
// histogram_quantile does; NaN without observations.
func (h histogram) quantile(q float64) float64 {
	if len(h.counts) == 0 || h.counts[len(h.counts)-1] == 0 {
		return math.NaN()
	}
	total := h.counts[len(h.counts)-1]
	rank := q * total
	lower, below := 0.0, 0.0
	for i, c := range h.counts {
		if c >= rank {
			if math.IsInf(h.bounds[i], 1) {
				return lower
			}
			return lower + (h.bounds[i]-lower)*(rank-below)/math.Max(c-below, 1)
		}
		lower, below = h.bounds[i], c
	}
	return lower
}

// ringVersions returns the version each ring is routed by, from a gateway's metrics.
func ringVersions(text string) (map[string]string, error) {
	fams, err := families(text)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, m := range fams[ringInfo].GetMetric() {
		var ring, version string
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "ring":
				ring = l.GetValue()
			case "version":
				version = l.GetValue()
			}
		}
		out[ring] = version
	}
	return out, nil
}

func hasLabel(m *dto.Metric, name, value string) bool {
	return slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == name && l.GetValue() == value })
}

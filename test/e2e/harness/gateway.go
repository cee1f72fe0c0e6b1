package harness

import (
	"context"
	"fmt"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
)

// GatewayWebSockets returns how many spliced WebSocket connections a gateway pod holds: the sum
// of its stablering_gateway_active_connections, read from its admin port's /metrics.
func GatewayWebSockets(ctx context.Context, pod *corev1.Pod) (int, error) {
	total, err := GatewayMetric(ctx, pod, "stablering_gateway_active_connections", nil)
	return int(total), err
}

// GatewayMetric returns the sum of a gateway pod's counters or gauges of the family name whose
// labels include labels, read from its admin port's /metrics.
func GatewayMetric(ctx context.Context, pod *corev1.Pod, name string, labels map[string]string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://%s:%d/metrics", pod.Status.PodIP, GatewayAdmin)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("metrics of %s: %w", pod.Name, err)
	}
	total := 0.0
	if f := families[name]; f != nil {
		for _, m := range f.GetMetric() {
			if hasLabels(m, labels) {
				total += m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
		}
	}
	return total, nil
}

// hasLabels reports whether m has every label of want with its value.
func hasLabels(m *dto.Metric, want map[string]string) bool {
	found := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok && v == l.GetValue() {
			found++
		}
	}
	return found == len(want)
}

package harness

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
)

// GatewayWebSockets returns how many spliced WebSocket connections a gateway pod holds: the sum
// of its stablering_gateway_active_connections, read from its admin port's /metrics.
func GatewayWebSockets(ctx context.Context, pod *corev1.Pod) (int, error) {
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
	if f := families["stablering_gateway_active_connections"]; f != nil {
		for _, m := range f.GetMetric() {
			total += m.GetGauge().GetValue()
		}
	}
	return int(total), nil
}

package gateway_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/stablering/stablering/gateway/resolved"
)

// TestActiveConnectionsMetric checks that stablering_gateway_active_connections has a series
// only for members with spliced connections, and drops it when the last one closes.
func TestActiveConnectionsMetric(t *testing.T) {
	bs := newBackends(t, 3)
	h := startGateway(t, testOptions(t))
	sr := newRing("chat", bs)
	h.g.Update([]resolved.Ring{sr})
	w := mustDialWS(t, h, keysOwnedBy(t, sr, 1, 1)[0])

	const series = "stablering_gateway_active_connections{"
	// The tunnel is counted once it starts, just after the client has its 101.
	awaitSeries(t, h, series, series+`member="1",ring="default/chat"} 1`)
	if err := w.conn.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	awaitSeries(t, h, series, "")
}

// awaitSeries waits up to 5 seconds for the gateway's metrics lines containing series to be
// want ("" for none), and fails the test with what they are if they do not become it.
func awaitSeries(t *testing.T, h *harness, series, want string) {
	t.Helper()
	awaitScrape(t, h, func(metrics string) string {
		if got := grepLines(metrics, series); got != want {
			return fmt.Sprintf("the series are:\n%s\nwant:\n%s", got, want)
		}
		return ""
	})
}

// awaitMetrics waits up to 5 seconds for the gateway's metrics to contain every line of want,
// and fails the test with the ones they lack if they do not.
func awaitMetrics(t *testing.T, h *harness, want ...string) {
	t.Helper()
	awaitScrape(t, h, func(metrics string) string {
		var lack []string
		for _, line := range want {
			if !strings.Contains(metrics, line) {
				lack = append(lack, line)
			}
		}
		if len(lack) > 0 {
			return "metrics lack:\n" + strings.Join(lack, "\n")
		}
		return ""
	})
}

// awaitScrape reads the gateway's metrics every 10 ms until check finds nothing wrong with
// them (returns ""), and fails the test with check's last finding after 5 seconds.
func awaitScrape(t *testing.T, h *harness, check func(metrics string) string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		_, metrics := get(t, h.admin+"/metrics")
		wrong := check(metrics)
		if wrong == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(wrong)
		}
	}
}

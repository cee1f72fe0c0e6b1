package gateway_test

import (
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	v1alpha1 "github.com/stablering/stablering/api/v1alpha1"
)

// TestActiveConnectionsMetric checks that stablering_gateway_active_connections has a series
// only for members with spliced connections, and drops it when the last one closes.
func TestActiveConnectionsMetric(t *testing.T) {
	bs := newBackends(t, 3)
	h := startGateway(t, testOptions(t))
	sr := newRing("chat", bs)
	h.g.Update([]v1alpha1.StableRing{sr})
	w := mustDialWS(t, h, keysOwnedBy(t, sr, 1, 1)[0])

	const series = "stablering_gateway_active_connections{"
	_, metrics := get(t, h.admin+"/metrics")
	if got, want := grepLines(metrics, series), series+`member="1",ring="default/chat"} 1`; got != want {
		t.Errorf("with one WebSocket to member 1 the series are:\n%s\nwant only %s", got, want)
	}

	if err := w.conn.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); strings.Contains(metrics, series); {
		if time.Now().After(deadline) {
			t.Fatalf("after the WebSocket closed the series are still:\n%s", grepLines(metrics, series))
		}
		time.Sleep(10 * time.Millisecond)
		_, metrics = get(t, h.admin+"/metrics")
	}
}

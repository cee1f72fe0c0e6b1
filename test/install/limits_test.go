package install_test

import (
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"sigs.k8s.io/yaml"

	"github.com/stablering/stablering/gateway"
)

// gatewayValues returns the gateway map of the chart's values.yaml.
func gatewayValues(t *testing.T) map[string]any {
	t.Helper()
	data, err := os.ReadFile(chartDir + "/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var values struct {
		Gateway map[string]any `json:"gateway"`
	}
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatalf("values.yaml: %v", err)
	}
	return values.Gateway
}

// valueText is a scalar of values.yaml as text: a duration string, or a number (YAML numbers
// decode as JSON numbers).
func valueText(v any) string {
	if f, ok := v.(float64); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	s, _ := v.(string)
	return s
}

// flagName is the gateway flag a value under gateway.limits renders as: maxIdleConnsPerMember is
// --max-idle-conns-per-member.
func flagName(value string) string {
	var b strings.Builder
	b.WriteString("--")
	for _, r := range value {
		if unicode.IsUpper(r) {
			b.WriteByte('-')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// isTimingOrLimit reports whether an Options field's value is a duration or an integer.
func isTimingOrLimit(v any) bool {
	switch v.(type) {
	case time.Duration, int:
		return true
	}
	return false
}

// parseLike parses s as a value of the type of like, a duration or an integer.
func parseLike(like any, s string) (any, error) {
	if _, ok := like.(time.Duration); ok {
		return time.ParseDuration(s)
	}
	return strconv.Atoi(s)
}

// TestChartValuesMatchGatewayDefaults checks that the chart's defaults of the gateway's timings
// and limits are gateway.DefaultOptions(): gateway.limits.dialTimeout is Options.DialTimeout,
// and so on, every duration and integer of Options has its value, and gateway.limits has no
// other.
func TestChartValuesMatchGatewayDefaults(t *testing.T) {
	gw := gatewayValues(t)
	limits, ok := gw["limits"].(map[string]any)
	if !ok {
		t.Fatal("values.yaml has no map gateway.limits")
	}
	// The timing the chart keeps outside gateway.limits, where it was first.
	outside := map[string]string{"ShutdownWindow": "shutdownWindow"}
	// The timings the chart has no default of gateway.DefaultOptions() for, and why.
	skip := map[string]string{
		"ReconcileInterval": "an internal period, not a flag",
		"ShutdownDelay":     "gateway.shutdownDelay defaults to the command's 5s, not the library's 0 (cmd/gateway tests it)",
	}
	d := reflect.ValueOf(gateway.DefaultOptions())
	for i := range d.NumField() {
		field, want := d.Type().Field(i).Name, d.Field(i).Interface()
		if _, ok := skip[field]; ok || !isTimingOrLimit(want) {
			continue
		}
		key := strings.ToLower(field[:1]) + field[1:]
		path := "gateway.limits." + key
		v, found := limits[key]
		delete(limits, key)
		if other, ok := outside[field]; ok {
			path = "gateway." + other
			v, found = gw[other]
		}
		if !found {
			t.Errorf("values.yaml lacks %s (Options.%s)", path, field)
			continue
		}
		if got, err := parseLike(want, valueText(v)); err != nil || got != want {
			t.Errorf("values.yaml sets %s to %v, want %v (gateway.DefaultOptions().%s)", path, v, want, field)
		}
	}
	for key := range limits {
		t.Errorf("values.yaml sets gateway.limits.%s, which is no field of gateway.Options", key)
	}
}

// TestChartGatewayLimits checks that each value under gateway.limits becomes the gateway flag
// of the same name, once, with the value: the defaults, values set on the command line, and the
// all-features values (whose maxConnections, a YAML number, would render as 1e+06 without int64).
func TestChartGatewayLimits(t *testing.T) {
	limits, _ := gatewayValues(t)["limits"].(map[string]any)
	var defaults []string
	for key, v := range limits {
		defaults = append(defaults, flagName(key)+"="+valueText(v))
	}
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"defaults", nil, defaults},
		{"set", []string{"--set", "gateway.limits.sendTimeout=90s", "--set", "gateway.limits.maxConnections=1000000",
			"--set", "gateway.limits.maxHeaderBytes=65536"},
			[]string{"--send-timeout=90s", "--max-connections=1000000", "--max-header-bytes=65536", "--dial-timeout=5s"}},
		{"all features", []string{"-f", allFeaturesValues},
			[]string{"--send-timeout=2m", "--max-connections=1000000", "--max-headers=200", "--max-retry-after=20s"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := deployment(t, decoded(t, renderChart(t, c.args...)), "gateway").Spec.Template.Spec.Containers[0].Args
			for _, want := range c.want {
				if !slices.Contains(args, want) {
					t.Errorf("gateway args lack %s: %q", want, args)
				}
			}
			for key := range limits {
				n := 0
				for _, a := range args {
					if strings.HasPrefix(a, flagName(key)+"=") {
						n++
					}
				}
				if n != 1 {
					t.Errorf("gateway args have %s %d times, want once: %q", flagName(key), n, args)
				}
			}
		})
	}
}

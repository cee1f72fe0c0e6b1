package monitoring

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// runbooks is the document the alerts' runbook_url annotations point into.
const (
	runbooksFile = "../../docs/runbooks.md"
	runbooksURL  = "https://github.com/stablering/stablering/blob/main/docs/runbooks.md"
)

// promtool returns the path of promtool, or skips the test when it is missing and may be.
func promtool(t *testing.T) string {
	t.Helper()
	if reason := Promtool.SkipReason(); reason != "" {
		t.Skip(reason)
	}
	path, err := Promtool.Path()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// runPromtool runs promtool with args and fails the test, with its output, when it fails.
func runPromtool(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(promtool(t), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestAlertRules checks the chart's rules file with `promtool check rules` (syntax, durations,
// templates, and promtool's lint) and runs the unit tests of testdata/alerts_test.yaml, which fire
// and do not fire each alert.
func TestAlertRules(t *testing.T) {
	t.Logf("%s", runPromtool(t, "check", "rules", "--lint-fatal", RulesFile))
	out := runPromtool(t, "test", "rules", filepath.Join("testdata", "alerts_test.yaml"))
	t.Logf("%s", out)
	if !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules did not report SUCCESS:\n%s", out)
	}
}

// TestAlertRulesAreTested checks that the promtool unit tests cover every alert, both firing
// and silent.
func TestAlertRulesAreTested(t *testing.T) {
	rules, err := LoadRules(RulesFile)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join("testdata", "alerts_test.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := string(data)
	for _, r := range rules {
		fires := regexp.MustCompile(`alertname: ` + r.Alert + `\n\s+exp_alerts:\n\s+- exp_labels`)
		silent := regexp.MustCompile(`alertname: ` + r.Alert + `\n\s+exp_alerts: \[\]`)
		if !fires.MatchString(tests) || !silent.MatchString(tests) {
			t.Errorf("alert %s: testdata/alerts_test.yaml must test it both firing and silent", r.Alert)
		}
	}
}

// TestAlertRunbooks checks that every alert has a severity, a summary and a runbook_url that
// points at its own section of docs/runbooks.md, and that every section there is an alert's.
func TestAlertRunbooks(t *testing.T) {
	rules, err := LoadRules(RulesFile)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(runbooksFile)
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^## (\S+)$`).FindAllStringSubmatch(string(data), -1) {
		sections[m[1]] = true
	}
	alerts := map[string]bool{}
	for _, r := range rules {
		alerts[r.Alert] = true
		if want := runbooksURL + "#" + strings.ToLower(r.Alert); r.Annotations["runbook_url"] != want {
			t.Errorf("alert %s: runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
		}
		if !sections[r.Alert] {
			t.Errorf("alert %s: docs/runbooks.md has no section \"## %s\"", r.Alert, r.Alert)
		}
		if r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
			t.Errorf("alert %s: labels %v, annotations %v; want a severity and a summary", r.Alert, r.Labels, r.Annotations)
		}
	}
	for s := range sections {
		if !alerts[s] {
			t.Errorf("docs/runbooks.md has a section %q but there is no such alert", s)
		}
	}
	if len(rules) == 0 {
		t.Fatal("no alerting rules")
	}
}

// TestDashboardQueriesAreValidPromQL checks every query of the dashboard with promtool, as the
// expressions of recording rules, with Grafana's $__rate_interval replaced by a duration
// ($ring only appears in strings, which stay as they are).
func TestDashboardQueriesAreValidPromQL(t *testing.T) {
	queries, err := DashboardQueries(DashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(queries) == 0 {
		t.Fatal("no queries in the dashboard")
	}
	type record struct {
		Record string `json:"record"`
		Expr   string `json:"expr"`
	}
	var records []record
	for i, q := range queries {
		records = append(records, record{Record: fmt.Sprintf("dashboard_query_%d", i), Expr: strings.ReplaceAll(q.Expr, "$__rate_interval", "5m")})
	}
	data, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": records}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboard-rules.yaml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", runPromtool(t, "check", "rules", path))
}

package monitoring

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"sigs.k8s.io/yaml"
)

// Paths of the chart's monitoring files, relative to this package.
const (
	RulesFile     = "../../charts/stablering/files/prometheus-rules.yaml"
	DashboardFile = "../../charts/stablering/files/grafana-dashboard.json"
)

// Rule is an alerting rule of a Prometheus rules file.
type Rule struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// LoadRules reads the alerting rules of the rules file at path, of every group. A field that
// Rule does not know (a recording rule's "record", a typo) is an error.
func LoadRules(path string) ([]Rule, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var file struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []Rule `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.UnmarshalStrict(data, &file); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var rules []Rule
	for _, g := range file.Groups {
		rules = append(rules, g.Rules...)
	}
	return rules, nil
}

// dashboard is what DashboardQueries reads of a Grafana dashboard.
type dashboard struct {
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // of a collapsed row
}

// labelValuesRE is a query variable's label_values(SELECTOR, LABEL), a Grafana function.
var labelValuesRE = regexp.MustCompile(`^label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)

// Query is a PromQL expression of a dashboard, and where it is.
type Query struct {
	Where, Expr string
}

// DashboardQueries returns the PromQL expressions of the Grafana dashboard at path: every panel
// target's, and the selector of every query variable (label_values), which must be its only form.
func DashboardQueries(path string) ([]Query, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var queries []Query
	var walk func([]panel)
	walk = func(panels []panel) {
		for _, p := range panels {
			for _, t := range p.Targets {
				queries = append(queries, Query{Where: "panel " + p.Title, Expr: t.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValuesRE.FindStringSubmatch(v.Definition)
		if m == nil {
			return nil, fmt.Errorf("%s: variable %s: query %q is not label_values(SELECTOR, LABEL)", path, v.Name, v.Definition)
		}
		queries = append(queries, Query{Where: "variable " + v.Name, Expr: m[1]})
	}
	return queries, nil
}

// ExportedNames returns the names of the samples in a Prometheus text exposition (a /metrics
// page), as queries name them: a histogram's NAME_bucket, NAME_sum and NAME_count, a summary's
// NAME, NAME_sum and NAME_count, any other family's NAME. A family without samples is left out.
func ExportedNames(r io.Reader) (map[string]bool, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for name, f := range families {
		if len(f.GetMetric()) == 0 {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[name], names[name+"_sum"], names[name+"_count"] = true, true, true
		case dto.MetricType_COUNTER, dto.MetricType_GAUGE, dto.MetricType_UNTYPED:
			names[name] = true
		default:
			return nil, fmt.Errorf("metric %s: unknown type %v", name, f.GetType())
		}
	}
	return names, nil
}

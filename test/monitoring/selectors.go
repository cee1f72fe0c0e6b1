package monitoring

import (
	"fmt"
	"slices"
	"strings"
)

// MetricNames returns the metric names that the PromQL expression expr selects, sorted and
// without duplicates: every identifier that is not a function, an aggregation or a keyword, nor
// inside a label matcher, a range or a string.
//
// It scans tokens instead of parsing with Prometheus's promql/parser because that package's
// module would raise this module's Kubernetes libraries (github.com/prometheus/prometheus v0.316.0
// requires k8s.io/client-go v0.37), and promtool checks the expressions' syntax anyway (see
// TestDashboardQueriesAreValidPromQL). What the scan cannot read right it rejects: a selector by
// __name__, and a Grafana variable outside a string or a range.
func MetricNames(expr string) ([]string, error) {
	var names []string
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			end, err := skipString(expr, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '{':
			end, err := skipTo(expr, i, '}')
			if err != nil {
				return nil, err
			}
			if strings.Contains(expr[i:end], "__name__") {
				return nil, fmt.Errorf("%q: a selector by __name__ is not supported", expr)
			}
			i = end
		case c == '[':
			end, err := skipTo(expr, i, ']')
			if err != nil {
				return nil, err
			}
			i = end
		case c == '#':
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
		case c == '$':
			return nil, fmt.Errorf("%q: a variable outside a string or a range at offset %d", expr, i)
		case isDigit(c) || c == '.' && i+1 < len(expr) && isDigit(expr[i+1]):
			// A number or a duration: 0.99, 1e3, 5m, 0x1f.
			for i < len(expr) && (isIdent(expr[i]) || expr[i] == '.') {
				i++
			}
		case isIdentStart(c):
			start := i
			for i < len(expr) && isIdent(expr[i]) {
				i++
			}
			word, next := expr[start:i], nextNonSpace(expr, i)
			switch {
			case labelListKeywords[word]:
				if next < len(expr) && expr[next] == '(' {
					end, err := skipTo(expr, next, ')')
					if err != nil {
						return nil, err
					}
					i = end
				}
			case keywords[word] || aggregations[word]:
			case next < len(expr) && expr[next] == '(':
				// A function call.
			default:
				names = append(names, word)
			}
		default:
			i++
		}
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// labelListKeywords are followed by a parenthesised list of label names.
var labelListKeywords = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

// keywords are PromQL's other reserved words, and the numbers it spells out.
var keywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true, "start": true, "end": true, "inf": true, "nan": true}

// aggregations are PromQL's aggregation operators: reserved words even before "by" or "without".
var aggregations = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true, "count": true,
	"count_values": true, "bottomk": true, "topk": true, "quantile": true, "limitk": true, "limit_ratio": true,
}

// skipString returns the offset after the string literal that starts at i.
func skipString(expr string, i int) (int, error) {
	quote := expr[i]
	for j := i + 1; j < len(expr); j++ {
		switch {
		case expr[j] == '\\' && quote != '`':
			j++
		case expr[j] == quote:
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("%q: unterminated string at offset %d", expr, i)
}

// skipTo returns the offset after the first closing character outside a string, from i on.
func skipTo(expr string, i int, closing byte) (int, error) {
	for j := i + 1; j < len(expr); {
		switch expr[j] {
		case closing:
			return j + 1, nil
		case '"', '\'', '`':
			end, err := skipString(expr, j)
			if err != nil {
				return 0, err
			}
			j = end
		default:
			j++
		}
	}
	return 0, fmt.Errorf("%q: no %q after offset %d", expr, closing, i)
}

func nextNonSpace(expr string, i int) int {
	for i < len(expr) && strings.ContainsRune(" \t\r\n", rune(expr[i])) {
		i++
	}
	return i
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}
func isIdent(c byte) bool { return isIdentStart(c) || isDigit(c) }

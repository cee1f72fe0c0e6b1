package main

import (
	"flag"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"sigs.k8s.io/yaml"

	"github.com/stablering/stablering/gateway"
)

// Paths relative to this package's directory, where go test runs.
const (
	userGuide   = "../../docs/user-guide.md"
	chartValues = "../../charts/stablering/values.yaml"
)

// newFlagSet returns the gateway's flags, unparsed: each holds its default.
func newFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	registerFlags(fs, &flags{})
	return fs
}

// limitFlags returns the flags that are a timeout or a limit (a duration or an integer), by
// name, with their defaults.
func limitFlags(fs *flag.FlagSet) map[string]any {
	out := map[string]any{}
	fs.VisitAll(func(f *flag.Flag) {
		g, ok := f.Value.(flag.Getter) // zap's flags are not
		if !ok {
			return
		}
		switch v := g.Get().(type) {
		case time.Duration, int:
			out[f.Name] = v
		}
	})
	return out
}

// kebab turns an Options field name into its flag name: MaxIdleConnsPerMember is
// max-idle-conns-per-member.
func kebab(field string) string {
	var b strings.Builder
	for i, r := range field {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('-')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// TestFlagDefaultsAreDefaultOptions checks that every timing and limit of gateway.Options has a
// flag named after it whose default is gateway.DefaultOptions()'s, and that every duration or
// integer flag is one of them.
func TestFlagDefaultsAreDefaultOptions(t *testing.T) {
	// Exceptions, each with its reason.
	notFlags := map[string]string{"ReconcileInterval": "an internal period, not a limit"}
	ownDefaults := map[string]any{"ShutdownDelay": defaultShutdownDelay}

	flags := limitFlags(newFlagSet())
	d := reflect.ValueOf(gateway.DefaultOptions())
	for i := range d.NumField() {
		field := d.Type().Field(i)
		want := d.Field(i).Interface()
		switch want.(type) {
		case time.Duration, int:
		default:
			continue
		}
		if _, ok := notFlags[field.Name]; ok {
			continue
		}
		if own, ok := ownDefaults[field.Name]; ok {
			want = own
		}
		name := kebab(field.Name)
		got, ok := flags[name]
		switch {
		case !ok:
			t.Errorf("Options.%s has no flag --%s", field.Name, name)
		case got != want:
			t.Errorf("--%s defaults to %v, want %v (gateway.DefaultOptions().%s)", name, got, want, field.Name)
		}
		delete(flags, name)
	}
	for name := range flags {
		t.Errorf("--%s is a duration or integer flag but not a timing or limit of gateway.Options", name)
	}
}

// limitRow is a row of the "Limits and timeouts" table of the user guide.
type limitRow struct {
	flag, defaultValue, chartValue string
}

// code matches the first `code span` of a table cell.
var code = regexp.MustCompile("`([^`]*)`")

// limitsTable reads the table of the "Limits and timeouts" section of the user guide.
func limitsTable(t *testing.T) []limitRow {
	t.Helper()
	data, err := os.ReadFile(userGuide)
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## Limits and timeouts\n")
	if !ok {
		t.Fatalf("%s has no section \"Limits and timeouts\"", userGuide)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var header []string
	var rows []limitRow
	for line := range strings.Lines(section) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			if header != nil {
				break // the end of the table
			}
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case header == nil:
			header = cells
			continue
		case strings.HasPrefix(cells[0], "---"):
			continue
		}
		cell := func(column string) string {
			i := indexOf(header, column)
			if i < 0 || i >= len(cells) {
				t.Fatalf("the table has no column %q: %q", column, line)
			}
			m := code.FindStringSubmatch(cells[i])
			if m == nil {
				t.Fatalf("column %q of row %q has no `value`", column, line)
			}
			return m[1]
		}
		rows = append(rows, limitRow{flag: cell("Flag"), defaultValue: cell("Default"), chartValue: cell("Chart value")})
	}
	if len(rows) == 0 {
		t.Fatal("the section \"Limits and timeouts\" has no table")
	}
	return rows
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// parseLike parses s as a value of the type of like (a duration or an integer).
func parseLike(like any, s string) (any, error) {
	if _, ok := like.(time.Duration); ok {
		return time.ParseDuration(s)
	}
	return strconv.Atoi(s)
}

// chartValue returns the value at a dotted path of the chart's values.yaml, as text.
func chartValue(values map[string]any, path string) (string, bool) {
	var v any = values
	for key := range strings.SplitSeq(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return "", false
		}
		if v, ok = m[key]; !ok {
			return "", false
		}
	}
	switch v := v.(type) {
	case string:
		return v, true
	case float64: // YAML numbers decode as JSON numbers
		return strconv.FormatFloat(v, 'f', -1, 64), true
	}
	return "", false
}

// TestDocLimitsTable checks the user guide's "Limits and timeouts" table: each row names a flag
// with exactly the documented default and a chart value with the same default, and every
// timeout or limit flag has a row.
func TestDocLimitsTable(t *testing.T) {
	data, err := os.ReadFile(chartValues)
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatalf("%s: %v", chartValues, err)
	}
	flags := limitFlags(newFlagSet())
	documented := map[string]bool{}
	for _, row := range limitsTable(t) {
		name := strings.TrimPrefix(row.flag, "--")
		documented[name] = true
		def, ok := flags[name]
		if !ok {
			t.Errorf("the guide documents %s, which is not a timeout or limit flag of the gateway", row.flag)
			continue
		}
		if doc, err := parseLike(def, row.defaultValue); err != nil || doc != def {
			t.Errorf("the guide says %s defaults to %q, the flag to %v", row.flag, row.defaultValue, def)
		}
		text, ok := chartValue(values, row.chartValue)
		if !ok {
			t.Errorf("the guide names chart value %s for %s, which values.yaml lacks", row.chartValue, row.flag)
			continue
		}
		if chart, err := parseLike(def, text); err != nil || chart != def {
			t.Errorf("values.yaml sets %s to %q, the default of %s is %v", row.chartValue, text, row.flag, def)
		}
	}
	for name := range flags {
		if !documented[name] {
			t.Errorf("--%s is not in the guide's \"Limits and timeouts\" table", name)
		}
	}
}

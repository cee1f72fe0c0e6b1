// Command balancer-report writes docs/balancer.md, the measured figures of package balancer:
// load balance and key movement, computed here with package balancer/ringstats over synthetic
// room keys, and lookup and build costs, parsed from `go test -bench` output.
//
// hack/balancer-report.sh runs the benchmarks and this command; run it (or make bench-balancer)
// rather than this command directly:
//
//	go test -run '^$' -bench . -benchmem ./balancer/ > bench.txt
//	go run ./hack/balancer-report -bench bench.txt -o docs/balancer.md
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/stablering/stablering/balancer"
	"github.com/stablering/stablering/balancer/ringstats"
)

// balanceSizes and movementSizes are the member counts of the balance and movement tables; the
// benchmarks use balanceSizes too.
var (
	balanceSizes  = []int{10, 100, 1000}
	movementSizes = []int{10, 100}
)

// benchOps are the benchmarks of package balancer, in table order.
var benchOps = []string{"Owner", "Pick", "New"}

func main() {
	log.SetFlags(0)
	log.SetPrefix("balancer-report: ")
	benchFile := flag.String("bench", "", "file with `go test -bench -benchmem` output of ./balancer/ (default: standard input)")
	benchCmd := flag.String("bench-command", "", "the command that produced the benchmark output, for the report")
	out := flag.String("o", "", "output `file` (default: standard output)")
	keys := flag.Int("keys", 1_000_000, "number of synthetic room keys for the balance and movement figures")
	flag.Parse()
	if err := run(*benchFile, *benchCmd, *out, *keys); err != nil {
		log.Fatal(err)
	}
}

func run(benchFile, benchCmd, out string, nkeys int) error {
	in := io.Reader(os.Stdin)
	if benchFile != "" {
		f, err := os.Open(benchFile)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	bench, err := parseBench(in)
	if err != nil {
		return fmt.Errorf("reading benchmark output: %w", err)
	}
	if len(bench.results) == 0 {
		return fmt.Errorf("no Owner, Pick or New benchmark results in the input")
	}
	keys := ringstats.Keys(nkeys)
	balance, err := measureBalance(keys)
	if err != nil {
		return err
	}
	movement, err := measureMovement(keys)
	if err != nil {
		return err
	}
	var doc strings.Builder
	writeReport(&doc, report{bench: bench, benchCmd: benchCmd, keys: nkeys, balance: balance, movement: movement})
	if out == "" {
		_, err = io.WriteString(os.Stdout, doc.String())
		return err
	}
	return os.WriteFile(out, []byte(doc.String()), 0o644)
}

// sizeKey identifies a figure by algorithm and member count.
type sizeKey struct {
	alg     balancer.Algorithm
	members int
}

func measureBalance(keys []string) (map[sizeKey]float64, error) {
	balance := map[sizeKey]float64{}
	for _, alg := range balancer.Algorithms() {
		for _, n := range balanceSizes {
			r, err := ringstats.Build(alg, n)
			if err != nil {
				return nil, err
			}
			balance[sizeKey{alg, n}] = ringstats.PeakToMean(r, keys)
		}
	}
	return balance, nil
}

func measureMovement(keys []string) (map[sizeKey]ringstats.Movement, error) {
	movement := map[sizeKey]ringstats.Movement{}
	for _, alg := range balancer.Algorithms() {
		for _, n := range movementSizes {
			mv, err := ringstats.Scale(alg, n, keys)
			if err != nil {
				return nil, err
			}
			movement[sizeKey{alg, n}] = mv
		}
	}
	return movement, nil
}

// benchKey identifies a benchmark: BenchmarkOwner/Jump/members=100 is {"Owner", {Jump, 100}}.
type benchKey struct {
	op string
	sizeKey
}

// benchSamples are the runs of one benchmark (go test -count).
type benchSamples struct {
	nsPerOp, allocsPerOp []float64
}

// benchOutput is parsed `go test -bench` output.
type benchOutput struct {
	goos, goarch, cpu string
	results           map[benchKey]*benchSamples
}

var benchLine = regexp.MustCompile(`^Benchmark(\w+)/(\w+)/members=(\d+)(?:-\d+)?\s+\d+\s+(.*)$`)

func parseBench(r io.Reader) (benchOutput, error) {
	out := benchOutput{results: map[benchKey]*benchSamples{}}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if k, v, ok := strings.Cut(line, ": "); ok {
			switch k {
			case "goos":
				out.goos = v
			case "goarch":
				out.goarch = v
			case "cpu":
				out.cpu = v
			}
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		members, _ := strconv.Atoi(m[3])
		key := benchKey{op: m[1], sizeKey: sizeKey{balancer.Algorithm(m[2]), members}}
		s := out.results[key]
		if s == nil {
			s = &benchSamples{}
			out.results[key] = s
		}
		if err := s.add(m[4]); err != nil {
			return out, fmt.Errorf("%q: %w", line, err)
		}
	}
	return out, sc.Err()
}

// add parses the measurements of a benchmark line: "25.14 ns/op  0 B/op  0 allocs/op".
func (s *benchSamples) add(measurements string) error {
	fields := strings.Fields(measurements)
	for i := 1; i < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i-1], 64)
		if err != nil {
			return err
		}
		switch fields[i] {
		case "ns/op":
			s.nsPerOp = append(s.nsPerOp, v)
		case "allocs/op":
			s.allocsPerOp = append(s.allocsPerOp, v)
		}
	}
	return nil
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

// report is everything docs/balancer.md shows.
type report struct {
	bench    benchOutput
	benchCmd string
	keys     int
	balance  map[sizeKey]float64
	movement map[sizeKey]ringstats.Movement
}

func writeReport(w io.Writer, r report) {
	fmt.Fprint(w, `<!-- Code generated by hack/balancer-report.sh; DO NOT EDIT. -->

# Balancer measurements

This page is generated: regenerate it with `+"`hack/balancer-report.sh`"+` (or `+"`make bench-balancer`"+`),
which runs the benchmarks of package `+"`balancer`"+` and `+"`go run ./hack/balancer-report`"+`.
The balance and movement figures are deterministic; the timings depend on the machine below.

`)
	writeMachine(w, r)
	writeBalance(w, r)
	writeMovement(w, r)
	writeBench(w, r)
}

func writeMachine(w io.Writer, r report) {
	goos, goarch := r.bench.goos, r.bench.goarch
	if goos == "" {
		goos, goarch = runtime.GOOS, runtime.GOARCH
	}
	fmt.Fprintf(w, "## Machine\n\n")
	fmt.Fprintf(w, "- Go: %s, %s/%s\n", runtime.Version(), goos, goarch)
	fmt.Fprintf(w, "- CPU: %s (%d logical CPUs)\n", cpuModel(r.bench.cpu), runtime.NumCPU())
	if r.benchCmd != "" {
		fmt.Fprintf(w, "- Benchmarks: `%s`\n", r.benchCmd)
	}
	fmt.Fprintln(w)
}

// cpuModel is the model name of /proc/cpuinfo, or the benchmark output's cpu line without it.
func cpuModel(fallback string) string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err == nil {
		for line := range strings.Lines(string(data)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				return strings.TrimSpace(v)
			}
		}
	}
	if fallback == "" {
		return "unknown"
	}
	return fallback
}

func writeBalance(w io.Writer, r report) {
	fmt.Fprintf(w, `## Balance

Peak-to-mean load: the number of keys on the busiest member divided by the mean, for %d keys
`+"`room-0`, `room-1`, ..."+` on members 0 .. N-1 (1.00 is perfect). With this many keys even a perfectly
uniform hash shows about 1 + 3.2/sqrt(keys/N) from sampling alone: 1.01 at 10 members, 1.03 at 100,
1.10 at 1000. Ketama uses %d points per member, as resty.chash and nginx do.

`, r.keys, balancer.DefaultVirtualNodes)
	writeTable(w, "Algorithm", sizeHeaders(balanceSizes, " members"), func(alg balancer.Algorithm) []string {
		var cells []string
		for _, n := range balanceSizes {
			cells = append(cells, fmt.Sprintf("%.3f", r.balance[sizeKey{alg, n}]))
		}
		return cells
	})
}

func writeMovement(w io.Writer, r report) {
	fmt.Fprint(w, `## Movement when scaling from N to N+1 members

Share of the keys whose owner changes, against the ideal 1/(N+1), and how many keys moved between
members that were already there (only keys that go to the new member need to move).

`)
	var headers []string
	for _, n := range movementSizes {
		headers = append(headers, fmt.Sprintf("%d→%d moved (ideal %.2f%%)", n, n+1, 100/float64(n+1)),
			fmt.Sprintf("%d→%d between old members", n, n+1))
	}
	writeTable(w, "Algorithm", headers, func(alg balancer.Algorithm) []string {
		var cells []string
		for _, n := range movementSizes {
			mv := r.movement[sizeKey{alg, n}]
			cells = append(cells, fmt.Sprintf("%.2f%%", 100*mv.Fraction()), fmt.Sprintf("%d", mv.Others()))
		}
		return cells
	})
}

func writeBench(w io.Writer, r report) {
	fmt.Fprint(w, `## Cost

Median of the benchmark runs, per operation: time and heap allocations. Owner and Pick cycle
through 4096 keys; Pick runs with every tenth member unusable, so about a tenth of the lookups fail
over. New is the time to build a ring (gateways build one per ring change).

`)
	for _, op := range benchOps {
		fmt.Fprintf(w, "### %s\n\n", op)
		writeTable(w, "Algorithm", sizeHeaders(balanceSizes, " members"), func(alg balancer.Algorithm) []string {
			var cells []string
			for _, n := range balanceSizes {
				s, ok := r.bench.results[benchKey{op, sizeKey{alg, n}}]
				if !ok {
					cells = append(cells, "not run")
					continue
				}
				cells = append(cells, fmt.Sprintf("%s, %.0f allocs", duration(median(s.nsPerOp)), median(s.allocsPerOp)))
			}
			return cells
		})
	}
}

// duration formats nanoseconds with a readable unit.
func duration(ns float64) string {
	switch {
	case ns < 1e3:
		return fmt.Sprintf("%.1f ns", ns)
	case ns < 1e6:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	default:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	}
}

func sizeHeaders(sizes []int, suffix string) []string {
	headers := make([]string, len(sizes))
	for i, n := range sizes {
		headers[i] = strconv.Itoa(n) + suffix
	}
	return headers
}

// writeTable writes a Markdown table with a row of cells per algorithm.
func writeTable(w io.Writer, first string, headers []string, row func(balancer.Algorithm) []string) {
	fmt.Fprintf(w, "| %s | %s |\n", first, strings.Join(headers, " | "))
	fmt.Fprintf(w, "|---|%s\n", strings.Repeat("--:|", len(headers)))
	for _, alg := range balancer.Algorithms() {
		fmt.Fprintf(w, "| %s | %s |\n", alg, strings.Join(row(alg), " | "))
	}
	fmt.Fprintln(w)
}

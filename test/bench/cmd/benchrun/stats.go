package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// values maps results to one number each.
func values[T any](rs []T, f func(T) float64) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

// spread is the minimum, median and maximum over the repetitions of a measurement.
type spread struct{ min, med, max float64 }

func spreadOf(v []float64) spread {
	if len(v) == 0 {
		return spread{}
	}
	s := slices.Sorted(slices.Values(v))
	return spread{min: s[0], med: median(s), max: s[len(s)-1]}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// verdict compares the gateway's spread with nginx's: on par when the medians are within 5%,
// else it wins or loses only when the two ranges do not overlap.
// Without values on either side (a proxy not measured) there is no verdict.
func verdict(gateway, nginx []float64, higherBetter bool) string {
	if len(gateway) == 0 || len(nginx) == 0 {
		return "–"
	}
	g, n := spreadOf(gateway), spreadOf(nginx)
	if n.med != 0 && math.Abs(g.med/n.med-1) <= 0.05 {
		return "on par (medians within 5%)"
	}
	if !higherBetter {
		g, n = spread{-g.max, -g.med, -g.min}, spread{-n.max, -n.med, -n.min}
	}
	switch {
	case g.min > n.max:
		return "wins"
	case g.max < n.min:
		return "**loses**"
	default:
		return "within the spread"
	}
}

// Formats of the report's numbers.

func fmtCount(v float64) string {
	s := strconv.FormatFloat(v, 'f', 0, 64)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func fmtDur(ns float64) string {
	d := time.Duration(ns)
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", ns/1e3)
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case d < time.Second:
		return fmt.Sprintf("%.1f ms", ns/1e6)
	default:
		return fmt.Sprintf("%.2f s", ns/1e9)
	}
}

// fmtCPU formats CPU time per operation, given in nanoseconds.
func fmtCPU(ns float64) string { return fmt.Sprintf("%.1f µs", ns/1e3) }

func fmtPct(v float64) string {
	if v < 0 {
		return "?"
	}
	return fmt.Sprintf("%.0f%%", v*100)
}

// fmtPerReq formats a count per request, such as system calls.
func fmtPerReq(v float64) string { return fmt.Sprintf("%.2f", v) }

func fmtKiB(b float64) string { return fmt.Sprintf("%.1f KiB", b/1024) }
func fmtMiB(b float64) string { return fmt.Sprintf("%.0f MiB", b/(1<<20)) }

func fmtRatio(v, base float64) string {
	if base == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", v/base)
}

// medianCell is the median of v, or "–" when v is empty.
func medianCell(v []float64, format func(float64) string) string {
	if len(v) == 0 {
		return "–"
	}
	return format(median(v))
}

// cell is a spread as "median (min–max)".
func cell(v []float64, format func(float64) string) string {
	if len(v) == 0 {
		return "–"
	}
	s := spreadOf(v)
	if len(v) == 1 {
		return format(s.med)
	}
	return fmt.Sprintf("%s (%s–%s)", format(s.med), format(s.min), format(s.max))
}

func total(v []float64) float64 {
	var t float64
	for _, x := range v {
		t += x
	}
	return t
}

package main

import (
	"fmt"
	"math"
	"strings"
)

// series is one line of a chart.
type series struct {
	name   string
	points []point
}

type point struct{ x, y float64 }

// chart is a line chart drawn as SVG with a logarithmic x axis (the grid's steps are decades)
// and a linear y axis from zero.
type chart struct {
	title, xLabel, yLabel string
	lines                 []series
}

// Chart geometry, in SVG pixels.
const (
	chartW, chartH               = 560, 300
	marginL, marginR, marginT    = 64, 150, 32
	marginB                      = 48
	plotW, plotH                 = chartW - marginL - marginR, chartH - marginT - marginB
	yTicks                       = 5
	legendStep                   = 18
	strokeWidth, markerRadius    = 2, 3
	fontSize, titleSize, smallPx = 12, 14, 11
)

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"}

// svg renders the chart.
func (c chart) svg() string {
	xmin, xmax, ymax := math.Inf(1), math.Inf(-1), 0.0
	for _, s := range c.lines {
		for _, p := range s.points {
			xmin, xmax, ymax = math.Min(xmin, p.x), math.Max(xmax, p.x), math.Max(ymax, p.y)
		}
	}
	if math.IsInf(xmin, 1) {
		return ""
	}
	xmin, xmax = math.Max(xmin, 1), math.Max(xmax, 1)
	if xmax == xmin {
		xmax = xmin * 10
	}
	ymax = niceCeil(ymax)
	lx0, lx1 := math.Log10(xmin), math.Log10(xmax)
	px := func(x float64) float64 {
		return marginL + (math.Log10(math.Max(x, 1))-lx0)/(lx1-lx0)*plotW
	}
	py := func(y float64) float64 { return marginT + plotH - y/ymax*plotH }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="%d">`+"\n",
		chartW, chartH, chartW, chartH, fontSize)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", chartW, chartH)
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="%d" font-weight="bold">%s</text>`+"\n", marginL, marginT-12, titleSize, esc(c.title))
	for i := 0; i <= yTicks; i++ {
		y := ymax * float64(i) / yTicks
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", marginL, py(y), marginL+plotW, py(y))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" font-size="%d">%s</text>`+"\n", marginL-6, py(y)+4, smallPx, trimFloat(y))
	}
	for d := math.Floor(lx0); d <= math.Ceil(lx1); d++ {
		x := math.Pow(10, d)
		if x < xmin || x > xmax {
			continue
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", px(x), marginT, px(x), marginT+plotH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" font-size="%d">%s</text>`+"\n", px(x), marginT+plotH+16, smallPx, trimFloat(x))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s (log scale)</text>`+"\n", marginL+plotW/2, chartH-8, esc(c.xLabel))
	fmt.Fprintf(&b, `<text transform="translate(14 %d) rotate(-90)" text-anchor="middle">%s</text>`+"\n", marginT+plotH/2, esc(c.yLabel))
	for i, s := range c.lines {
		color := palette[i%len(palette)]
		coords := make([]string, 0, len(s.points))
		for _, p := range s.points {
			coords = append(coords, fmt.Sprintf("%.1f,%.1f", px(p.x), py(p.y)))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="%d" points="%s"/>`+"\n", color, strokeWidth, strings.Join(coords, " "))
		for _, p := range s.points {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="%d" fill="%s"/>`+"\n", px(p.x), py(p.y), markerRadius, color)
		}
		ly := marginT + 8 + i*legendStep
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="%d"/>`+"\n", chartW-marginR+12, ly, chartW-marginR+30, ly, color, strokeWidth)
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="%d">%s</text>`+"\n", chartW-marginR+36, ly+4, smallPx, esc(s.name))
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (at least 1).
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(v float64) string { return strings.TrimSuffix(fmt.Sprintf("%g", v), ".0") }

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func esc(s string) string { return escaper.Replace(s) }

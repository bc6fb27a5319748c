package bench

import (
	"errors"
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// series is one line of a plot panel.
type series struct {
	name     string
	color    string
	value    func(Sample) float64
	skipZero bool // 0 means "not measured yet" (memory), not a value
}

// panel is one chart of the plot: several series over the run's time.
type panel struct {
	title string
	unit  string // axis unit label
	scale float64
	lines []series
}

// PlotSVG draws a report's timeline as an SVG image: connections over time, and client
// and server memory over time. It fails when the report has no timeline.
func PlotSVG(w io.Writer, r Report, title string) error {
	if len(r.Timeline) < 2 {
		return errors.New("the report has no timeline to plot (fewer than 2 samples)")
	}
	memScale, memUnit := float64(1<<20), "MiB"
	for _, t := range r.Timeline {
		if max(t.ServerRSSBytes, t.ClientRSSBytes) >= 2<<30 {
			memScale, memUnit = 1<<30, "GiB"
			break
		}
	}
	panels := []panel{
		{title: "connections", unit: "connections", scale: 1, lines: []series{
			{"established (bench)", "#1f77b4", func(s Sample) float64 { return float64(s.Established) }, false},
			{"held (bench)", "#2ca02c", func(s Sample) float64 { return float64(s.Held) }, false},
			{"open (servers)", "#ff7f0e", func(s Sample) float64 { return float64(s.ServerConns) }, false},
			{"failed", "#d62728", func(s Sample) float64 { return float64(s.Failed) }, false},
		}},
		{title: "memory", unit: memUnit, scale: memScale, lines: []series{
			{"servers RSS (sum)", "#ff7f0e", func(s Sample) float64 { return float64(s.ServerRSSBytes) }, true},
			{"servers PSS (sum)", "#9467bd", func(s Sample) float64 { return float64(s.ServerPSSBytes) }, true},
			{"bench RSS (sum)", "#1f77b4", func(s Sample) float64 { return float64(s.ClientRSSBytes) }, true},
		}},
	}
	const width, panelH, top, left, right, gap = 960, 300, 60, 90, 220, 50
	height := top + len(panels)*(panelH+gap)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="28" font-size="16" font-weight="bold">%s</text>`+"\n", left, html.EscapeString(title))
	tmax := r.Timeline[len(r.Timeline)-1].TS
	for i, p := range panels {
		y0 := top + i*(panelH+gap)
		plotPanel(&b, p, r.Timeline, left, y0, width-left-right, panelH, tmax)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func plotPanel(b *strings.Builder, p panel, ts []Sample, x0, y0, w, h int, tmax float64) {
	vmax := 0.0
	for _, l := range p.lines {
		for _, s := range ts {
			vmax = math.Max(vmax, l.value(s)/p.scale)
		}
	}
	vmax = axisMax(vmax)
	tspan := axisMax(tmax)
	px := func(t float64) float64 { return float64(x0) + t/tspan*float64(w) }
	py := func(v float64) float64 { return float64(y0+h) - v/vmax*float64(h) }
	fmt.Fprintf(b, `<text x="%d" y="%d" font-weight="bold">%s</text>`+"\n", x0, y0-8, html.EscapeString(p.title))
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", x0, y0, w, h)
	for v, step := 0.0, niceCeil(vmax/5); v <= vmax+step/2; v += step {
		y := py(v)
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`+"\n", x0, y, x0+w, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-6, y+4, axisLabel(v))
	}
	for t, step := 0.0, niceCeil(tspan/5); t <= tspan+step/2; t += step {
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%ss</text>`+"\n", px(t), y0+h+16, axisLabel(t))
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" transform="rotate(-90 %d %d)" text-anchor="middle">%s</text>`+"\n",
		x0-62, y0+h/2, x0-62, y0+h/2, html.EscapeString(p.unit))
	for i, l := range p.lines {
		var pts []string
		for _, s := range ts {
			v := l.value(s)
			if v == 0 && l.skipZero {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(s.TS), py(v/p.scale)))
		}
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", l.color, strings.Join(pts, " "))
		ly := y0 + 14 + i*18
		fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`+"\n", x0+w+12, ly-4, x0+w+32, ly-4, l.color)
		fmt.Fprintf(b, `<text x="%d" y="%d">%s</text>`+"\n", x0+w+38, ly, html.EscapeString(l.name))
	}
}

// axisMax is the top of an axis showing values up to v: a whole number of ticks (5 of
// them at most) whose step is 1, 2 or 5 times a power of ten.
func axisMax(v float64) float64 {
	step := niceCeil(v / 5)
	return step * math.Max(1, math.Ceil(v/step))
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (at least 1).
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// axisLabel formats an axis value compactly (1.5, 200k, 1M).
func axisLabel(v float64) string {
	switch {
	case v >= 1e6:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", v/1e6), ".0") + "M"
	case v >= 1e4:
		return strings.TrimSuffix(fmt.Sprintf("%.0f", v/1e3), ".0") + "k"
	case v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	default:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", v), ".0")
	}
}

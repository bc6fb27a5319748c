package bench

import (
	"encoding/xml"
	"strings"
	"testing"
)

func TestPlotSVG_DrawsTheTimeline(t *testing.T) {
	r := Report{Timeline: []Sample{
		{TS: 0},
		{TS: 1, Established: 500, Held: 500, ServerConns: 480, ClientRSSBytes: 20 << 20, ServerRSSBytes: 30 << 20, ServerPSSBytes: 25 << 20},
		{TS: 2.5, Established: 1000, Held: 990, Failed: 10, ServerConns: 990, ClientRSSBytes: 21 << 20, ServerRSSBytes: 31 << 20, ServerPSSBytes: 26 << 20},
	}}
	var b strings.Builder
	if err := PlotSVG(&b, r, "a <title>"); err != nil {
		t.Fatal(err)
	}
	svg := b.String()
	if err := xml.Unmarshal([]byte(svg), new(struct{ XMLName xml.Name })); err != nil {
		t.Fatalf("not well-formed XML: %v", err)
	}
	for _, want := range []string{"a &lt;title&gt;", "established (bench)", "servers PSS (sum)", "MiB", "1000"} {
		if !strings.Contains(svg, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	if n := strings.Count(svg, "<polyline"); n != 7 {
		t.Errorf("%d lines, want 7", n)
	}
	if err := PlotSVG(&b, Report{}, ""); err == nil {
		t.Error("a report without a timeline was plotted")
	}
}

func TestAxisMax(t *testing.T) {
	for _, tc := range []struct{ in, want float64 }{{0, 1}, {5.1, 6}, {1e6, 1e6}, {1.03e6, 1.5e6}, {37, 40}} {
		if got := axisMax(tc.in); got != tc.want {
			t.Errorf("axisMax(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

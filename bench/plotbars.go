package main

// The bars of a -compare plot: for the figures a side-by-side run is
// judged on besides the latency curve (CPU per delivery, the connect
// storm, memory per idle connection), each target's median as a bar and
// each of its runs as a dot.

import (
	"fmt"
	"image/color"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// barMetrics names the metrics of a scenario (metricsFor) drawn as bars.
var barMetrics = map[string][]string{
	"fanout": {"server cpu µs per delivery"},
	"idle":   {"connect time s", "RSS peak per connection KB"},
}

// barsOf draws, for each of the scenario's bar metrics, one chart: a bar
// per target at its median, a dot per run. Runs that lack the figure are
// left out; a metric no run has draws nothing.
func barsOf(rs []*result) ([]*plot.Plot, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	gs := groupResults(rs)
	names := make([]string, len(gs))
	for i, g := range gs {
		names[i] = g.target
	}
	var out []*plot.Plot
	for _, m := range metricsFor(rs[0].Scenario) {
		if !slices.Contains(barMetrics[rs[0].Scenario], m.name) {
			continue
		}
		p := plot.New()
		p.Title.Text = m.name + fmt.Sprintf(" (%s is better; bar: median, dots: runs)", m.better)
		p.Add(plotter.NewGrid())
		var dots plotter.XYs
		drawn := false
		for i, g := range gs {
			var vals []float64
			for _, r := range g.runs {
				if v, ok := m.get(r); ok && !math.IsNaN(v) {
					vals = append(vals, v)
					dots = append(dots, plotter.XY{X: float64(i), Y: v})
				}
			}
			if len(vals) == 0 {
				continue
			}
			drawn = true
			bar, err := plotter.NewBarChart(plotter.Values{median(vals)}, vg.Points(60))
			if err != nil {
				return nil, fmt.Errorf("bars of %s: %w", m.name, err)
			}
			bar.XMin = float64(i)
			bar.Color = plotutil.Color(i)
			bar.LineStyle.Width = 0
			p.Add(bar)
		}
		if !drawn {
			continue
		}
		sc, err := plotter.NewScatter(dots)
		if err != nil {
			return nil, fmt.Errorf("runs of %s: %w", m.name, err)
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: color.Black, Radius: vg.Points(3), Shape: draw.CircleGlyph{}}
		p.Add(sc)
		p.NominalX(names...)
		p.X.Min, p.X.Max = -0.5, float64(len(gs))-0.5
		p.Y.Min = 0
		out = append(out, p)
	}
	return out, nil
}

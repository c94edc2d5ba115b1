package main

// -plot FILE.svg: the latency percentile curve and the deliveries per
// second over time, drawn with gonum.org/v1/plot.

import (
	"fmt"
	"math"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// plotSeries is one line in each of the two charts.
type plotSeries struct {
	label  string
	curve  []curvePoint
	perSec []float64
}

// seriesOf extracts what a result can draw: a fanout's phase, a ramp's
// steps (the last 8 curves; the deliveries of every step end to end).
func seriesOf(r *result, label string) []plotSeries {
	switch {
	case r.Fanout != nil:
		return []plotSeries{{label: label, curve: r.Fanout.Curve, perSec: r.Fanout.PerSecond}}
	case r.Ramp != nil:
		var out []plotSeries
		var all []float64
		steps := r.Ramp.Steps
		for i, s := range steps {
			all = append(all, s.PerSecond...)
			if i >= len(steps)-8 {
				out = append(out, plotSeries{label: fmt.Sprintf("%s %g msg/s/sender", label, s.RatePerSender), curve: s.Curve})
			}
		}
		out = append(out, plotSeries{label: label + " (all steps)", perSec: all})
		return out
	}
	return nil
}

// percentileX maps a percentile to the x of the curve chart: 1/(1-p), so
// that 90, 99, 99.9 are equally spaced on a log axis.
func percentileX(p float64) float64 { return 1 / (1 - math.Min(p, 99.9999)/100) }

// writePlot draws the latency curves and deliveries per second of series,
// if any, and below them the charts of bars (barsOf), into one SVG.
func writePlot(path, title string, series []plotSeries, bars []*plot.Plot) error {
	if len(series) == 0 && len(bars) == 0 {
		return fmt.Errorf("-plot: nothing to draw for this scenario (fanout, ramp and, compared, idle draw; persist does not)")
	}
	var plots [][]*plot.Plot
	if len(series) > 0 {
		lat, dps, err := curvePlots(title, series)
		if err != nil {
			return err
		}
		plots = append(plots, []*plot.Plot{lat}, []*plot.Plot{dps})
	}
	for _, b := range bars {
		plots = append(plots, []*plot.Plot{b})
	}

	w, h := 10*vg.Inch, vg.Length(len(plots))*5*vg.Inch
	// Embedded fonts: the text measures in the browser as it did here.
	c := vgsvg.NewWith(vgsvg.UseWH(w, h), vgsvg.EmbedFonts(true))
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadTop: vg.Points(10), PadBottom: vg.Points(10),
		PadLeft: vg.Points(10), PadRight: vg.Points(20), PadY: vg.Points(30)}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// curvePlots draws series: the latency percentile curves and the
// deliveries per second over time.
func curvePlots(title string, series []plotSeries) (lat, dps *plot.Plot, err error) {
	lat = plot.New()
	lat.Title.Text = title + ": end-to-end latency by percentile"
	lat.X.Label.Text = "percentile"
	lat.Y.Label.Text = "latency (ms)"
	lat.X.Scale = plot.LogScale{}
	lat.Y.Scale = plot.LogScale{}
	lat.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	lat.X.Tick.Marker = plot.ConstantTicks{
		{Value: 1, Label: "0%"}, {Value: 2, Label: "50%"}, {Value: 10, Label: "90%"}, {Value: 100, Label: "99%"},
		{Value: 1000, Label: "99.9%"}, {Value: 1e4, Label: "99.99%"}, {Value: 1e5, Label: "99.999%"},
	}
	lat.Legend.Top = false // bottom right: where the curves are not
	lat.Legend.Left = false
	lat.Legend.XOffs, lat.Legend.YOffs = -vg.Points(25), vg.Points(10)
	lat.Add(plotter.NewGrid())

	dps = plot.New()
	dps.Title.Text = "deliveries per second"
	dps.X.Label.Text = "time (s)"
	dps.Y.Label.Text = "deliveries/s"
	dps.Legend.Top = true
	dps.Legend.XOffs = -vg.Points(25)
	dps.Y.Tick.Marker = humanTicks{}
	dps.Add(plotter.NewGrid())

	var latArgs, dpsArgs []any
	for _, s := range series {
		if len(s.curve) > 0 {
			xys := make(plotter.XYs, 0, len(s.curve))
			for _, p := range s.curve {
				xys = append(xys, plotter.XY{X: percentileX(p.Percentile), Y: math.Max(p.Ms, 0.001)})
			}
			latArgs = append(latArgs, s.label, xys)
		}
		if len(s.perSec) > 0 {
			xys := make(plotter.XYs, len(s.perSec))
			for i, v := range s.perSec {
				xys[i] = plotter.XY{X: float64(i) + 0.5, Y: v}
			}
			dpsArgs = append(dpsArgs, s.label, xys)
		}
	}
	if len(latArgs) == 0 && len(dpsArgs) == 0 {
		return nil, nil, fmt.Errorf("-plot: no latency sample and no delivery to draw")
	}
	if len(latArgs) == 0 { // keep the log axes drawable
		lat.X.Min, lat.X.Max, lat.Y.Min, lat.Y.Max = 1, 100, 0.1, 1
	}
	if err := plotutil.AddLines(lat, latArgs...); err != nil {
		return nil, nil, err
	}
	if err := plotutil.AddLines(dps, dpsArgs...); err != nil {
		return nil, nil, err
	}
	dps.Y.Min = 0
	return lat, dps, nil
}

// humanTicks are the default ticks labelled 400k, 1.2M...
type humanTicks struct{}

func (humanTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = human(ts[i].Value)
		}
	}
	return ts
}

package main

// Latency accounting: HDR histograms of microseconds, their summary and the
// percentile curve the reports and plots print.

import (
	"math"
	"sync"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

type histStripe struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

// Latencies are recorded in microseconds, from 1 µs to 60 s, 3 significant digits.
const histMaxMicros = 60_000_000

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, histMaxMicros, 3) }

func recordMicros(h *hdrhistogram.Histogram, ns int64) {
	us := ns / 1000
	us = min(max(us, 1), histMaxMicros)
	_ = h.RecordValue(us)
}

type latencySummary struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
	Mean  float64 `json:"mean"`
}

type curvePoint struct {
	Percentile float64 `json:"percentile"`
	Ms         float64 `json:"ms"`
}

func summarize(h *hdrhistogram.Histogram) latencySummary {
	ms := func(us int64) float64 { return float64(us) / 1000 }
	if h.TotalCount() == 0 {
		return latencySummary{}
	}
	return latencySummary{
		Count: h.TotalCount(),
		P50:   ms(h.ValueAtQuantile(50)),
		P90:   ms(h.ValueAtQuantile(90)),
		P99:   ms(h.ValueAtQuantile(99)),
		P999:  ms(h.ValueAtQuantile(99.9)),
		Max:   ms(h.Max()),
		Mean:  h.Mean() / 1000,
	}
}

// latencyCurve samples the percentile distribution at 20 points per decade
// of 1/(1-p), up to the last percentile the sample count resolves.
func latencyCurve(h *hdrhistogram.Histogram) []curvePoint {
	n := h.TotalCount()
	if n == 0 {
		return nil
	}
	var pts []curvePoint
	for k := 0; k <= 120; k++ {
		p := 1 - math.Pow(10, -float64(k)/20)
		if k > 0 && 1-p < 1/float64(n) {
			break
		}
		pts = append(pts, curvePoint{Percentile: p * 100, Ms: float64(h.ValueAtQuantile(p*100)) / 1000})
	}
	pts = append(pts, curvePoint{Percentile: 100 * (1 - 1/float64(max(n, 2))), Ms: float64(h.Max()) / 1000})
	return pts
}

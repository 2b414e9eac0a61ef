package views

import (
	"strconv"
	"time"
)

// The chart's geometry, in SVG user units.
const (
	chartWidth  = 600
	chartHeight = 140
	chartTop    = 18  // room for the "max" label
	chartBottom = 122 // the baseline
)

var (
	chartViewBox    = "0 0 " + strconv.Itoa(chartWidth) + " " + strconv.Itoa(chartHeight)
	chartWidthAttr  = strconv.Itoa(chartWidth)
	chartHeightAttr = strconv.Itoa(chartHeight)
	chartBaseline   = strconv.Itoa(chartBottom)
	chartLabelY     = strconv.Itoa(chartHeight - 4)
)

// bar is one minute's bars as attribute values.
type bar struct {
	X, Y, W, H string
	FY, FH     string // the failed bar; FH "" when none
	Title      string
}

func chartMax(c ChartData) int {
	m := 0
	for _, b := range c.Minutes {
		m = max(m, b.Created, b.Failed)
	}
	return m
}

func chartBars(c ChartData) []bar {
	n := len(c.Minutes)
	if n == 0 {
		return nil
	}
	peak := chartMax(c)
	if peak == 0 {
		peak = 1
	}
	slot := float64(chartWidth) / float64(n)
	w := slot * 0.8
	scale := float64(chartBottom-chartTop) / float64(peak)
	out := make([]bar, 0, n)
	for i, m := range c.Minutes {
		if m.Created == 0 && m.Failed == 0 {
			continue
		}
		x := float64(i)*slot + (slot-w)/2
		h := float64(m.Created) * scale
		b := bar{
			X: ftoa(x), W: ftoa(w),
			Y: ftoa(chartBottom - h), H: ftoa(h),
			Title: m.Start.UTC().Format("15:04") + " UTC: " + strconv.Itoa(m.Created) + " created, " +
				strconv.Itoa(m.Failed) + " failed",
		}
		if m.Failed > 0 {
			fh := float64(m.Failed) * scale
			b.FY, b.FH = ftoa(chartBottom-fh), ftoa(fh)
		}
		out = append(out, b)
	}
	return out
}

func chartStart(c ChartData) string {
	if len(c.Minutes) == 0 {
		return ""
	}
	return c.Minutes[0].Start.UTC().Format("15:04")
}

func chartEnd(c ChartData) string {
	if len(c.Minutes) == 0 {
		return ""
	}
	return c.Minutes[len(c.Minutes)-1].Start.Add(time.Minute).UTC().Format("15:04") + " UTC"
}

func chartLabel(c ChartData) string {
	created, failed := 0, 0
	for _, m := range c.Minutes {
		created += m.Created
		failed += m.Failed
	}
	return "Operations per minute over the last hour: " + strconv.Itoa(created) + " created, " +
		strconv.Itoa(failed) + " failed"
}

// trendBar is one hour of a failure group's trend.
type trendBar struct{ X, Y, H string }

// trendBars scales an hourly trend into a 96×20 sparkline, 4 units per
// hour; an hour without failures has no bar.
func trendBars(trend []int) []trendBar {
	peak := 0
	for _, n := range trend {
		peak = max(peak, n)
	}
	var out []trendBar
	for i, n := range trend {
		if n == 0 {
			continue
		}
		h := max(2, 20*float64(n)/float64(peak))
		out = append(out, trendBar{X: ftoa(float64(i) * 4), Y: ftoa(20 - h), H: ftoa(h)})
	}
	return out
}

func trendLabel(g FailureGroup) string {
	last := 0
	if n := len(g.Trend); n > 0 {
		last = g.Trend[n-1]
	}
	return strconv.Itoa(g.Count) + " failures in 24 hours, " + strconv.Itoa(last) + " in the last hour"
}

// groupURL lists a failure group's operations.
func groupURL(g FailureGroup) string {
	return OpFilter{Status: "failed", Code: string(g.Code), Company: utoa(g.CompanyID)}.Query(0)
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

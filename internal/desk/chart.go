package desk

import (
	"context"
	"sort"
	"strconv"
	"time"

	"github.com/aupguard/aupguard/internal/store"
)

// dayCounts is reports per category per UTC day, oldest day first.
type dayCounts struct {
	Start time.Time        // midnight UTC of Days[0]
	Days  []map[string]int // category → reports
}

// countByDay counts the last n days' reports (today included) by category.
// It reads only ids and categories, so it shows the same in ZDR mode.
func (d *Desk) countByDay(ctx context.Context, n int) (dayCounts, error) {
	now := d.now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	dc := dayCounts{Start: today.AddDate(0, 0, -(n - 1)), Days: make([]map[string]int, n)}
	for i := range dc.Days {
		dc.Days[i] = map[string]int{}
	}
	err := d.opt.Store.EachReport(ctx, dc.Start, today.AddDate(0, 0, 1), func(r store.Report) error {
		i := int(r.Time.UTC().Sub(dc.Start) / (24 * time.Hour))
		if i < 0 || i >= n {
			return nil
		}
		for _, c := range r.Categories {
			dc.Days[i][c]++
		}
		return nil
	})
	return dc, err
}

// chart is a stacked bar chart ready for the template, which draws it as
// inline SVG: geometry is computed here, every label is escaped there.
type chart struct {
	W, H   int
	Bars   []bar
	YTicks []tick
	XTicks []tick
	Legend []legend
	Empty  bool
	PlotX  int
	PlotY  int
	PlotW  int
	PlotH  int
}

type bar struct {
	X, Y, W, H int
	Color      string
	Title      string
}

type tick struct {
	X, Y  int
	Label string
}

type legend struct {
	Name  string
	Color string
	X, Y  int
}

// palette is distinguishable on light and dark backgrounds.
var palette = []string{"#d62728", "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"}

func buildChart(dc dayCounts) chart {
	const (
		w, h                   = 760, 300
		left, right, top, foot = 44, 12, 12, 34
	)
	ch := chart{W: w, PlotX: left, PlotY: top, PlotW: w - left - right, PlotH: h - top - foot}
	// Categories by total, largest first, so colours are stable within a view.
	tot := map[string]int{}
	peak := 0
	for _, day := range dc.Days {
		sum := 0
		for c, n := range day {
			tot[c] += n
			sum += n
		}
		peak = max(peak, sum)
	}
	cats := make([]string, 0, len(tot))
	for c := range tot {
		cats = append(cats, c)
	}
	sort.Slice(cats, func(i, j int) bool {
		if tot[cats[i]] != tot[cats[j]] {
			return tot[cats[i]] > tot[cats[j]]
		}
		return cats[i] < cats[j]
	})
	color := map[string]string{}
	for i, c := range cats {
		color[c] = palette[i%len(palette)]
	}
	legendRows := (len(cats) + 2) / 3
	ch.H = h + legendRows*18
	if peak == 0 {
		ch.Empty = true
		peak = 1
	}
	scale := niceMax(peak)
	n := len(dc.Days)
	slot := float64(ch.PlotW) / float64(max(n, 1))
	bw := max(int(slot*0.7), 1)
	for i, day := range dc.Days {
		x := left + int(float64(i)*slot+(slot-float64(bw))/2)
		y := top + ch.PlotH
		date := dc.Start.AddDate(0, 0, i).Format("2006-01-02")
		for _, c := range cats {
			if day[c] == 0 {
				continue
			}
			bh := max(int(float64(day[c])/float64(scale)*float64(ch.PlotH)), 1)
			y -= bh
			ch.Bars = append(ch.Bars, bar{X: x, Y: y, W: bw, H: bh, Color: color[c], Title: date + " · " + c + ": " + strconv.Itoa(day[c])})
		}
		// Label about six days, evenly.
		if every := max(n/6, 1); i%every == 0 || i == n-1 {
			ch.XTicks = append(ch.XTicks, tick{X: x + bw/2, Y: top + ch.PlotH + 16, Label: dc.Start.AddDate(0, 0, i).Format("01-02")})
		}
	}
	for _, v := range []int{0, scale / 2, scale} {
		y := top + ch.PlotH - int(float64(v)/float64(scale)*float64(ch.PlotH))
		ch.YTicks = append(ch.YTicks, tick{X: left - 6, Y: y, Label: strconv.Itoa(v)})
	}
	for i, c := range cats {
		ch.Legend = append(ch.Legend, legend{Name: c, Color: color[c], X: left + (i%3)*240, Y: h + (i/3)*18})
	}
	return ch
}

// niceMax rounds a peak up to an even number so the middle tick is whole.
func niceMax(peak int) int {
	for _, m := range []int{2, 4, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000} {
		if peak <= m {
			return m
		}
	}
	return (peak + 9999) / 10000 * 10000
}

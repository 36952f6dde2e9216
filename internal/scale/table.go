package scale

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// A figure that should stay flat as the record grows is flagged (⚠) when
// it gets worse by more than this factor from one step to the next.
const worse = 1.5

// Flags names the figures of rows[i] that got worse than flat since the
// previous row of the same store.
func Flags(rows []Row, i int) []string {
	if i == 0 || rows[i-1].Store != rows[i].Store {
		return nil
	}
	a, b := rows[i-1], rows[i]
	var out []string
	up := func(name string, x, y, floor float64) { // smaller is better; floor: ignore noise below it
		if y > x*worse && y-x > floor {
			out = append(out, name)
		}
	}
	down := func(name string, x, y float64) { // larger is better
		if y*worse < x {
			out = append(out, name)
		}
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	up("total/report", float64(a.TotalBytes)/float64(max(a.Reports, 1)), float64(b.TotalBytes)/float64(max(b.Reports, 1)), 16)
	up("bytes/report", a.BytesPerReport, b.BytesPerReport, 16)
	up("bytes/user", a.BytesPerUser, b.BytesPerUser, 16)
	up("queue", ms(a.QueueP50), ms(b.QueueP50), 1)
	up("case", ms(a.CaseP50), ms(b.CaseP50), 1)
	up("erase", ms(a.EraseP50), ms(b.EraseP50), 5)
	up("export heap", float64(a.ExportHeap>>20), float64(b.ExportHeap>>20), 16)
	up("verify heap", float64(a.VerifyHeap>>20), float64(b.VerifyHeap>>20), 16)
	down("writes", a.WriteRate, b.WriteRate)
	down("export", a.ExportRate, b.ExportRate)
	down("verify", a.VerifyRate, b.VerifyRate)
	down("sweep", sweepRate(a), sweepRate(b))
	return out
}

func sweepRate(r Row) float64 { return float64(r.SweepRead) / r.SweepTime.Seconds() }

// Markdown writes the rows as two tables (size and desk; throughput and
// upkeep), flagged figures marked ⚠.
func Markdown(w io.Writer, rows []Row, writers int) {
	mark := func(flags []string, name, v string) string {
		for _, f := range flags {
			if f == name {
				return v + " ⚠"
			}
		}
		return v
	}
	fmt.Fprintln(w, "| store | reports | users | actions | total | total ÷ reports | report part ÷ reports | user part ÷ users | queue page 1 p50 (max) | case page p50 (p99) |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for i, r := range rows {
		f := Flags(rows, i)
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Store, count(r.Reports), count(r.Users), count(r.Actions),
			bytes(r.TotalBytes), mark(f, "total/report", fmt.Sprintf("%.0f B", float64(r.TotalBytes)/float64(max(r.Reports, 1)))),
			mark(f, "bytes/report", fmt.Sprintf("%.0f B", r.BytesPerReport)), mark(f, "bytes/user", fmt.Sprintf("%.0f B", r.BytesPerUser)),
			mark(f, "queue", dur(r.QueueP50)+" ("+dur(r.QueueMax)+")"), mark(f, "case", dur(r.CaseP50)+" ("+dur(r.CaseP99)+")"))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "| store | reports | load /s (batches) | AddReport /s (%d writers) | export /s | export heap | bundle | verify /s | verify heap | sweep pass (records/s, purged) | erasure p50 (max) |\n", writers)
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for i, r := range rows {
		f := Flags(rows, i)
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Store, count(r.Reports), count(int(r.LoadRate)),
			mark(f, "writes", count(int(r.WriteRate))), mark(f, "export", count(int(r.ExportRate))),
			mark(f, "export heap", bytes(int64(r.ExportHeap))), bytes(r.BundleBytes),
			mark(f, "verify", count(int(r.VerifyRate))), mark(f, "verify heap", bytes(int64(r.VerifyHeap))),
			mark(f, "sweep", fmt.Sprintf("%s (%s/s, %s)", dur(r.SweepTime), count(int(sweepRate(r))), count(r.SweepPurged))),
			mark(f, "erase", dur(r.EraseP50)+" ("+dur(r.EraseMax)+")"))
	}
	var notes []string
	for i, r := range rows {
		if f := Flags(rows, i); len(f) > 0 {
			notes = append(notes, fmt.Sprintf("%s at %s reports: %s", r.Store, count(r.Reports), strings.Join(f, ", ")))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "\nWorse than flat (⚠, > %.1f× from the previous step): %s.\n", worse, strings.Join(notes, "; "))
	}
}

func count(n int) string {
	switch {
	case n >= 10_000_000:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1_000_000:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 100_000:
		return fmt.Sprintf("%.0fk", float64(n)/1e3)
	case n >= 10_000:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

func bytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
}

func dur(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.0f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.0f µs", float64(d)/1e3)
}

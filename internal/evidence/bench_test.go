package evidence

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/store"
)

// synthSource makes reports on the fly, so the benchmark measures the
// exporter's memory, not the fixture's.
type synthSource struct{ reports, actions int }

func (s synthSource) Reports(ctx context.Context, f Filter) iter.Seq2[store.Report, error] {
	return func(yield func(store.Report, error) bool) {
		for i := range s.reports {
			r := testReport(i)
			r.User = fmt.Sprintf("user-%d", i%50000)
			r.Time = t0.Add(time.Duration(i) * time.Second)
			if !yield(r, nil) {
				return
			}
		}
	}
}

func (s synthSource) Actions(ctx context.Context, f Filter) iter.Seq2[store.Action, error] {
	return func(yield func(store.Action, error) bool) {
		for i := range s.actions {
			a := store.Action{ID: fmt.Sprintf("a%06d", i), Time: t0.Add(time.Duration(i)*100*time.Second + time.Hour),
				Actor: "desk-1", App: "web", User: fmt.Sprintf("user-%d", (i*100)%50000), Action: "warn",
				Reason: "reviewed", ReportIDs: []string{fmt.Sprintf("r%06d", i*100)}, Before: store.Active, After: store.Warned}
			if !yield(a, nil) {
				return
			}
		}
	}
}

func (s synthSource) Policy(ctx context.Context, hash string) (PolicyVersion, error) {
	return findPolicy(testSource(0).policies, hash)
}

// peakHeap samples HeapInuse until stop is called and returns the peak.
func peakHeap() (stop func() uint64) {
	var (
		peak uint64
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	wg.Go(func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			sample()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() uint64 { close(done); wg.Wait(); sample(); return peak }
}

// benchReports is a million unless AUPGUARD_BENCH_REPORTS says otherwise
// (compare peak-heap-MiB at 100000 and 1000000 to see it stay flat).
var benchReports = func() int {
	if n, err := strconv.Atoi(os.Getenv("AUPGUARD_BENCH_REPORTS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}()

// BenchmarkExport exports a million reports and ten thousand actions.
// Reported: peak-heap-MiB (HeapInuse sampled every 20ms; it stays flat
// whatever the report count), bundle-MiB and reports/s.
func BenchmarkExport(b *testing.B) {
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	src := synthSource{reports: benchReports, actions: benchReports / 100}
	runtime.GC()
	stop := peakHeap()
	var size int64
	start := time.Now()
	for b.Loop() {
		cw := &countWriter{}
		m, err := (&Exporter{Key: key, TempDir: b.TempDir()}).Export(context.Background(), cw, src, Filter{})
		if err != nil {
			b.Fatal(err)
		}
		if m.Counts.Reports != benchReports {
			b.Fatalf("%d reports", m.Counts.Reports)
		}
		size = cw.n
	}
	elapsed := time.Since(start)
	peak := stop()
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(size)/(1<<20), "bundle-MiB")
	b.ReportMetric(float64(benchReports)*float64(b.N)/elapsed.Seconds(), "reports/s")
}

// BenchmarkVerify verifies the million-report bundle from a file.
func BenchmarkVerify(b *testing.B) {
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	path := filepath.Join(b.TempDir(), "bundle.tar.gz")
	out, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	src := synthSource{reports: benchReports, actions: benchReports / 100}
	if _, err := (&Exporter{Key: key, TempDir: b.TempDir()}).Export(context.Background(), out, src, Filter{}); err != nil {
		b.Fatal(err)
	}
	out.Close()
	runtime.GC()
	stop := peakHeap()
	start := time.Now()
	for b.Loop() {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		res := Verify(f, key.Public().(ed25519.PublicKey))
		f.Close()
		if !res.OK {
			b.Fatal(res.FirstFailure)
		}
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(stop())/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(benchReports)*float64(b.N)/elapsed.Seconds(), "reports/s")
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

var _ io.Writer = (*countWriter)(nil)

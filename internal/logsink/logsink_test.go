package logsink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// rec records each underlying Write.
type rec struct {
	mu     sync.Mutex
	writes []string
	fail   error
}

func (r *rec) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return 0, r.fail
	}
	r.writes = append(r.writes, string(p))
	return len(p), nil
}

func (r *rec) all() (n int, s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.writes), strings.Join(r.writes, "")
}

func TestBatchesUntilFlush(t *testing.T) {
	r := &rec{}
	w := New(r, time.Hour, 1<<10)
	for i := range 10 {
		fmt.Fprintf(w, "line %d\n", i)
	}
	if n, _ := r.all(); n != 0 {
		t.Fatalf("%d writes before any flush", n)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	n, s := r.all()
	if n != 1 || s != "line 0\nline 1\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\nline 8\nline 9\n" {
		t.Fatalf("%d writes: %q", n, s)
	}
}

func TestFlushesWithinEvery(t *testing.T) {
	r := &rec{}
	w := New(r, 5*time.Millisecond, 1<<10)
	defer w.Close()
	io.WriteString(w, "a\n")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if n, s := r.all(); n == 1 && s == "a\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not flushed by the timer")
		}
		time.Sleep(time.Millisecond)
	}
	io.WriteString(w, "b\n") // a new batch schedules a new flush
	for {
		if n, s := r.all(); n == 2 && s == "a\nb\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("second batch not flushed")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestFullBufferAndBigLinesKeepOrder(t *testing.T) {
	r := &rec{}
	w := New(r, time.Hour, 16)
	io.WriteString(w, "0123456789\n") // 11 bytes: kept
	io.WriteString(w, "abcdefg\n")    // would pass 16: the first goes out
	big := strings.Repeat("x", 40) + "\n"
	io.WriteString(w, big) // too big to keep: what waits goes first
	w.Flush()
	n, s := r.all()
	if s != "0123456789\nabcdefg\n"+big || n != 3 {
		t.Fatalf("%d writes: %q", n, s)
	}
}

func TestCloseFlushesThenWritesThrough(t *testing.T) {
	r := &rec{}
	w := New(r, time.Hour, 1<<10)
	io.WriteString(w, "a\n")
	w.Close()
	io.WriteString(w, "b\n")
	if n, s := r.all(); n != 2 || s != "a\nb\n" {
		t.Fatalf("%d writes: %q", n, s)
	}
}

func TestWriteErrorReported(t *testing.T) {
	r := &rec{fail: errors.New("disk full")}
	w := New(r, time.Hour, 1<<10)
	io.WriteString(w, "a\n")
	if err := w.Flush(); err == nil {
		t.Fatal("no error from a failed write")
	}
}

// TestHandlerWarnIsImmediate: info lines wait, a warning goes out at once
// with them, in order; With and WithGroup keep the behaviour.
func TestHandlerWarnIsImmediate(t *testing.T) {
	r := &rec{}
	w := New(r, time.Hour, 1<<10)
	log := slog.New(Handler(slog.NewJSONHandler(w, nil), w, slog.LevelWarn)).With("svc", "gw").WithGroup("g")
	log.Info("request", "n", 1)
	if n, _ := r.all(); n != 0 {
		t.Fatal("an info line was written at once")
	}
	log.Warn("upstream call failed")
	n, s := r.all()
	if n != 1 || strings.Count(s, "\n") != 2 || strings.Index(s, "request") > strings.Index(s, "upstream call failed") {
		t.Fatalf("%d writes: %q", n, s)
	}
	if !strings.Contains(s, `"svc":"gw"`) || !strings.Contains(s, `"g":{"n":1}`) {
		t.Fatalf("attrs lost: %q", s)
	}
	if log.Handler().Enabled(context.Background(), slog.LevelDebug) {
		t.Fatal("debug enabled at the default level")
	}
}

// TestConcurrentLinesWhole: lines written from many goroutines come out
// whole, each once.
func TestConcurrentLinesWhole(t *testing.T) {
	r := &rec{}
	w := New(r, time.Millisecond, 256)
	log := slog.New(Handler(slog.NewJSONHandler(w, nil), w, slog.LevelWarn))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				log.Info("request", "g", g, "i", i, "pad", strings.Repeat("p", i%50))
			}
		}()
	}
	wg.Wait()
	w.Close()
	_, s := r.all()
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if len(lines) != 8*500 {
		t.Fatalf("%d lines, want %d", len(lines), 8*500)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, `{"time":`) || !strings.HasSuffix(l, `}`) {
			t.Fatalf("broken line %q", l)
		}
	}
}

// benchLog logs access-log records (the gateway's attributes) through
// handler output out, a pipe drained by a reader as stderr is.
func benchLog(b *testing.B, batched bool) {
	pr, pw, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, pr); close(done) }()
	var out io.Writer = pw
	var h slog.Handler
	var w *Writer
	if batched {
		w = New(pw, 0, 0)
		out = w
		h = Handler(slog.NewJSONHandler(out, nil), w, slog.LevelWarn)
	} else {
		h = slog.NewJSONHandler(out, nil)
	}
	log := slog.New(h)
	ctx := context.Background()
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			log.LogAttrs(ctx, slog.LevelInfo, "request",
				slog.String("request_id", "01JF4Q5V6W7X8Y9Z0A1B2C3D4E"), slog.String("method", "POST"),
				slog.String("route", "chat/completions"), slog.Int("status", 200), slog.String("app", "web"),
				slog.String("pseudonym", "aup_abcdefghijklmnopqrstuvwxyz"), slog.String("decision", "allow"),
				slog.String("decision_id", "d_01JF4Q5V6W7X8Y9Z"), slog.String("reason", ""),
				slog.Int("upstream_status", 200), slog.Duration("latency", 412*time.Microsecond), slog.Int("bytes", 1234))
		}
	})
	b.StopTimer()
	if w != nil {
		w.Close()
	}
	pw.Close()
	<-done
	pr.Close()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the process's user+system CPU time: the pipe's reader and
// the kernel's work for each write included.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkAccessLogLine(b *testing.B) {
	b.Run("direct", func(b *testing.B) { benchLog(b, false) })
	b.Run("batched", func(b *testing.B) { benchLog(b, true) })
}

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// plainSection is a section whose plain run measured gw and fl.
func plainSection(gw, fl stats) *section {
	return &section{store: "redis", conc: 8, res: map[string]map[string]stats{"plain": {"gateway": gw, "floor": fl, "direct": fl}},
		noIdle: true, judgeLatency: true, judgeThroughput: true}
}

func findBar(t *testing.T, s *section, name string) bar {
	t.Helper()
	for _, b := range s.bars() {
		if b.name == name {
			return b
		}
	}
	t.Fatalf("no bar %q in %+v", name, s.bars())
	return bar{}
}

// The bars hold at their limits and fail just past them.
func TestBarBoundaries(t *testing.T) {
	fl := stats{n: 100, rps: 1000, p50: 300 * time.Microsecond, p99: 2 * time.Millisecond, cpuPerReq: 100 * time.Microsecond}
	at := func(f func(*stats)) stats { g := fl; f(&g); return g }
	for _, c := range []struct {
		name string
		gw   stats
		want string
	}{
		{"added p50 latency", at(func(g *stats) { g.p50 += 50 * time.Microsecond }), "PASS"},
		{"added p50 latency", at(func(g *stats) { g.p50 += 51 * time.Microsecond }), "**FAIL**"},
		{"added p99 latency", at(func(g *stats) { g.p99 += time.Millisecond }), "PASS"},
		{"added p99 latency", at(func(g *stats) { g.p99 += time.Millisecond + time.Microsecond }), "**FAIL**"},
		{"throughput", at(func(g *stats) { g.rps = 900 }), "PASS"},
		{"throughput", at(func(g *stats) { g.rps = 899 }), "**FAIL**"},
		{"CPU per request", at(func(g *stats) { g.cpuPerReq = 125 * time.Microsecond }), "PASS"},
		{"CPU per request", at(func(g *stats) { g.cpuPerReq = 126 * time.Microsecond }), "**FAIL**"},
		{"CPU per request", at(func(g *stats) { g.cpuPerReq = 0 }), "n/a"},
	} {
		s := plainSection(c.gw, fl)
		if got := findBar(t, s, c.name).result(); got != c.want {
			t.Errorf("%s with gateway %+v: %s, want %s", c.name, c.gw, got, c.want)
		}
		rep := &report{sections: []*section{s}}
		if rep.passed() != (c.want != "**FAIL**") {
			t.Errorf("%s %s: passed() = %v", c.name, c.want, rep.passed())
		}
	}
}

// The CPU bar is judged with the most clients, like throughput, and is
// info in a pinned section, which never fails the run.
func TestCPUBarJudgedSharedOnly(t *testing.T) {
	fl := stats{n: 100, rps: 1000, cpuPerReq: 200 * time.Microsecond}
	gw := stats{n: 100, rps: 1000, cpuPerReq: 251 * time.Microsecond}
	s := plainSection(gw, fl)
	b := findBar(t, s, "CPU per request")
	if b.result() != "**FAIL**" || b.limit != "≤ 1.25× floor's" || b.measured != "1.25× (251 µs against 200 µs)" {
		t.Errorf("shared, most clients: %+v", b)
	}
	s.judgeThroughput = false
	if r := findBar(t, s, "CPU per request").result(); r != "info" {
		t.Errorf("fewest clients: %s, want info", r)
	}
	s.judgeThroughput, s.pinned = true, true
	for _, b := range s.bars() {
		if r := b.result(); r != "info" && r != "n/a" {
			t.Errorf("pinned: bar %q is %s, want info", b.name, r)
		}
	}
	if rep := (&report{sections: []*section{s}}); !rep.passed() {
		t.Error("a pinned section failed the run")
	}
}

// A --pin run writes the pinned markers, leaves the shared section be, and
// its failing bars neither show FAIL nor make --strict exit 3.
func TestPinnedRunIsInfoOnly(t *testing.T) {
	out := filepath.Join(t.TempDir(), "benchmarks.md")
	shared := sharedSection.begin + "\nshared\n" + sharedSection.end + "\n"
	if err := os.WriteFile(out, []byte("# B\n\n"+shared+"\n"+markBegin+"\nold\n"+markEnd+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var started atomic.Int64
	o := quickOptions(t, "--store", "bolt", "--stream=false", "--idle", "0", "--out", out, "--strict", "--inproc", "--pin")
	o.newGateway = standInFactory(5, &started) // refusals: the error bar would fail
	var stdout, stderr bytes.Buffer
	if code := runWith(context.Background(), o, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, want 0\n%s\n%s", code, stdout.String(), stderr.String())
	}
	md := stdout.String()
	if strings.Contains(md, "FAIL") || strings.Contains(md, "PASS") || !strings.Contains(md, "× 429) | info |") ||
		!strings.Contains(md, "a second table and not the bar") {
		t.Errorf("pinned bars not info only:\n%s", md)
	}
	doc, _ := os.ReadFile(out)
	if !strings.HasPrefix(string(doc), "# B\n\n"+shared) || strings.Contains(string(doc), "\nold\n") || !strings.Contains(string(doc), "| gateway | plain |") {
		t.Errorf("pinned run did not write the pinned section only:\n%s", doc)
	}
}

package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

func TestScaleFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--replicas", "1"},
		{"--replicas", "9"},
		{"--cluster"},
		{"--gomaxprocs", "1"},
		{"--replicas", "2", "--store", "redis"},
		{"--replicas", "2", "--pin"},
		{"--replicas", "2", "--idle", "100"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%q: accepted", args)
		}
	}
	o, err := parseFlags([]string{"--replicas", "3", "--cluster"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.replicas != 3 || !o.cluster || o.pin || o.idle != 0 {
		t.Errorf("options %+v: want 3 replicas over a cluster, shared CPUs, no idle streams", o)
	}
	o.userRate = 120
	if sec := scaleSectionFor(o); sec.begin != "<!-- aupload:scaleout-cluster-limit120:begin -->" {
		t.Errorf("section %+v", sec)
	}
}

// Round robin: every replica gets its turn, whatever the interleaving.
func TestSpreadTakesTurns(t *testing.T) {
	s := newSpread([]string{"a", "b", "c"}, []int{0, 0, 0}, nil, nil)
	seen := map[string]int{}
	for range 30 {
		_, u := s.next()
		seen[u]++
	}
	if seen["a"] != 10 || seen["b"] != 10 || seen["c"] != 10 {
		t.Errorf("turns %v, want 10 each", seen)
	}
}

// A 3-node cluster starts, and INFO is read from every node.
func TestClusterStartsAndReportsUse(t *testing.T) {
	rs, err := startCluster(context.Background(), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	if !strings.HasPrefix(rs.url, "redis+cluster://") || strings.Count(rs.url, ",") != 2 {
		t.Errorf("url %q: want three seed nodes", rs.url)
	}
	u := redisSnapshot(rs.addrs())
	if u.failed != nil || len(u.cpu) != 3 {
		t.Fatalf("snapshot %+v: want the CPU of 3 nodes", u)
	}
	if _, err := respDo(rs.nodes[0].addr, "NOSUCHCOMMAND"); err == nil {
		t.Error("an error reply was not an error")
	}
}

// The whole scale-out run against in-process stand-ins over one real
// redis-server: each target's rows, the split per replica, the verdict,
// and its own section of the file.
func TestScaleOutRun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "benchmarks.md")
	before := "# Benchmarks\n\n## Load harness\n\n" + markBegin + "\nkept\n" + markEnd + "\n"
	if err := os.WriteFile(out, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := parseFlags([]string{"--replicas", "2", "-c", "2", "-d", "300ms", "--rounds", "2", "--warmup", "20ms", "--users", "50", "--stream=false", "--out", out}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var started atomic.Int64
	o.newGateway = standInFactory(0, &started)
	var stdout, stderr bytes.Buffer
	if code := runWith(context.Background(), o, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	if started.Load() != 2 {
		t.Errorf("started %d replicas, want 2", started.Load())
	}
	md := stdout.String()
	for _, want := range []string{"| floor | plain |", "| 1 replica | plain |", "| 2 replicas | plain |", " + ", "**Verdict (2 clients, plain).**", "| Redis CPU/req |"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q\n%s", want, md)
		}
	}
	b, _ := os.ReadFile(out)
	doc := string(b)
	if !strings.Contains(doc, "\nkept\n") || !strings.Contains(doc, "## Scale-out, one redis-server\n\n<!-- aupload:scaleout:begin -->") {
		t.Errorf("file:\n%s", doc)
	}
}

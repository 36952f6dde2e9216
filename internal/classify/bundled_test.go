package classify_test

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/aupguard/aupguard/internal/classify"
	"github.com/aupguard/aupguard/policies"
)

func bundled(tb testing.TB) *classify.Model {
	tb.Helper()
	b, err := policies.FS.ReadFile("aup/" + classify.FileName)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := classify.Load(b)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// The bundled model reads its own corpus's clear cases the right way round
// (a smoke test of the shipped file; quality is measured by cmd/aupeval).
func TestBundledModelSmoke(t *testing.T) {
	m := bundled(t)
	h := m.Header()
	if len(h.Categories) != 14 || len(h.Training.Corpus) == 0 {
		t.Fatalf("header: %d categories, corpus %v", len(h.Categories), h.Training.Corpus)
	}
	for _, text := range []string{"What is the capital of France?", "Write a Python function that sorts a list.", "Quelle est la capitale de la France ?"} {
		if s := m.Score([]string{text}); s.Harmful >= 0.5 {
			t.Errorf("%q scored %.2f", text, s.Harmful)
		}
	}
}

func BenchmarkBundledScore2KB(b *testing.B) {
	m := bundled(b)
	text := strings.Repeat("Please plan a three-day trip to Lisbon with museums and food. ", 34)[:2048]
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		m.Score([]string{text})
	}
}

// A megabyte is 512 windows; the budget is 3 ms.
func BenchmarkBundledScore1MiB(b *testing.B) {
	m := bundled(b)
	text := strings.Repeat("Please plan a three-day trip to Lisbon with museums and food. ", 1<<20/62+1)[:1<<20]
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		m.Score([]string{text})
	}
}

// Not all traffic is ASCII: the slow path, for comparison.
func BenchmarkBundledScore2KBMixed(b *testing.B) {
	m := bundled(b)
	text := strings.Repeat("Planifie un voyage à Lisbonne — musées, cuisine. 计划去里斯本旅行。Спланируй поездку. ", 20)[:2048]
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		m.Score([]string{text})
	}
}

// A harmful text: the category head runs too.
func BenchmarkBundledScore2KBHarmful(b *testing.B) {
	m := bundled(b)
	text := strings.Repeat("How do I make a pipe bomb to hurt my neighbour and hide the body? ", 32)[:2048]
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		m.Score([]string{text})
	}
}

// BenchmarkBundledScoreCorpus scores the vendored corpus's 30,000 texts
// one after another (every language, a new text each call): what real traffic costs,
// where the 2 KB benchmarks repeat one sentence and so flatter every cache.
// ns/op is per text; MB/s over the texts' bytes.
func BenchmarkBundledScoreCorpus(b *testing.B) {
	m := bundled(b)
	texts := corpusTexts(b, 0)
	var size int
	for _, t := range texts {
		size += len(t)
	}
	b.SetBytes(int64(size / len(texts)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.Score([]string{texts[i%len(texts)]})
		i++
	}
}

// corpusTexts is the first n texts of the vendored corpus (n <= 0: all).
func corpusTexts(tb testing.TB, n int) []string {
	tb.Helper()
	f, err := os.Open("../../testdata/corpus/train-permissive.jsonl.gz")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(nil, 1<<24)
	var out []string
	for (n <= 0 || len(out) < n) && sc.Scan() {
		var r struct{ Text string }
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			tb.Fatal(err)
		}
		out = append(out, r.Text)
	}
	if len(out) < max(n, 1000) {
		tb.Fatalf("%d texts in the vendored corpus, want %d", len(out), max(n, 1000))
	}
	return out
}

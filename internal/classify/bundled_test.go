package classify_test

import (
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

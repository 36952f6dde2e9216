package classify

import "testing"

// BenchmarkBundledScoreCorpus scores the vendored corpus's 30,000 texts
// one after another (every language, a new text each call): what real
// traffic costs, where the 2 KB benchmarks repeat one sentence and so
// flatter every cache. ns/op is per text; MB/s over the texts' bytes.
func BenchmarkBundledScoreCorpus(b *testing.B) {
	m := bundledModel(b)
	var texts []string
	size := 0
	eachCorpusText(b, func(text, _ string) {
		texts = append(texts, text)
		size += len(text)
	})
	if len(texts) < 1000 {
		b.Fatalf("%d texts in the vendored corpus", len(texts))
	}
	b.SetBytes(int64(size / len(texts)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m.Score([]string{texts[i%len(texts)]})
		i++
	}
}

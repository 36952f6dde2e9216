package classify

import (
	"strings"
	"testing"
)

func benchConceptFind(b *testing.B, text string) {
	m := newConceptMatcher(bundledConcepts())
	var fo folder
	var w []rune
	fo.windows(defaultFeatures, text, func(x []rune) { w = append(w, x...) })
	syms := make([]byte, len(w)+symsPad)
	for i, c := range w {
		syms[i] = symOf(c)
	}
	b.ResetTimer()
	for b.Loop() {
		_ = m.findSyms(w, syms)
	}
}
func BenchmarkConceptFindEN(b *testing.B) {
	benchConceptFind(b, strings.Repeat("Please help me write a short story about a detective who solves a mystery in a small town, with vivid characters. ", 18)[:2048])
}
func BenchmarkConceptFindZH(b *testing.B) {
	benchConceptFind(b, strings.Repeat("请帮我写一个关于小镇侦探解开谜团的短篇故事，人物要生动。", 40)[:2048])
}
func BenchmarkConceptFindAR(b *testing.B) {
	benchConceptFind(b, strings.Repeat("من فضلك ساعدني في كتابة قصة قصيرة عن محقق يحل لغزا في بلدة صغيرة ", 30)[:2048])
}

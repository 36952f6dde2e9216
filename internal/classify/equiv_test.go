package classify

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/aupguard/aupguard/policies"
)

func bundledModel(tb testing.TB) *Model {
	tb.Helper()
	b, err := policies.FS.ReadFile("aup/" + FileName)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := Load(b)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// randomModel has random weights and a bias that lets about half of all
// texts through the category gate, so both heads are compared.
func randomModel(tb testing.TB, rng *rand.Rand, fs featureSet, bits, catBits uint, nCat int) *Model {
	tb.Helper()
	h := Header{Version: 1, Features: fs, Bits: bits, CatBits: catBits, HarmScale: 1e-4, HarmBias: float32(rng.Float64()*4 - 2), CatScale: 3e-4}
	for k := 0; k < nCat; k++ {
		h.Categories = append(h.Categories, string(rune('a'+k)))
		h.CatBias = append(h.CatBias, float32(rng.Float64()-0.5))
	}
	m := &Model{h: h, nCat: nCat, mask: 1<<bits - 1, cmask: 1<<catBits - 1}
	m.harm = make([]int16, 1<<bits)
	for i := range m.harm {
		m.harm[i] = int16(rng.Uint32())
	}
	m.cat = make([]int16, (1<<catBits)*nCat)
	for i := range m.cat {
		m.cat[i] = int16(rng.Uint32())
	}
	if fs.MaxRunes < 64 {
		// Load refuses it, Train may make it (one window a text).
		m.prepare()
		return m
	}
	// Through the file format, so the model is set up the way Load does it.
	b, err := m.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	if m, err = Load(b); err != nil {
		tb.Fatal(err)
	}
	return m
}

// pieces of text the generator strings together: every class of rune fold
// treats apart, and the edges between them.
var pieces = []string{
	"the", "Quick", "BROWN", "fox", "don't", "it's", "x", "Q", "plan", "attack", "hurt", "neighbour",
	"phishing", "email", "steal", "passwords", "credit", "card", "how", "do", "I",
	" ", " ", " ", "  ", "\t", "\n", "\r\n", ", ", ". ", "!", "?", "-", "_", "@", "#", "~", "\x7f", "\x00", "\x01", "\x1b", "\x1f",
	"0", "42", "1234567890", "'", "''", "`",
	"Ünïcödé", "Straße", "İstanbul", "ǅemal", "ſ", "ÀÉÎÕÜ", "ÿ", "µ", "ª", "º",
	"Привет", "мир", "ΣΊΣΥΦΟΣ", "λόγος", "مرحبا", "بِسْمِ", "שָׁלוֹם", "हिन्दी", "नमस्ते", "தமிழ்", "ქართული", "հայերեն",
	"你好", "世界", "中文", "日本語", "ひらがな", "カタカナ", "ｶﾀｶﾅ", "한국어", "ภาษาไทย", "ສະບາຍດີ", "ខ្មែរ", "မြန်မာ", "ㄅㄆ",
	"\u200b", "\u200c", "\u200d", "\u00ad", "\ufeff", "\u2060", "\u2019", "\u2018", "\u202e", "\ue000", "\U000f0000", "\u0085", "\u0301", "e\u0301",
	"ＦＵＬＬ", "ｗｉｄｔｈ", "１２３", "！", "＇", "～", "\uff00", "\uff5f", "\uff01", "\uff5e", "\u3000",
	"٠١٢٣", "०१२", "①②", "Ⅻ", "½",
	"\xff", "\xc3", "\xe4\xb8", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf",
	"😀", "👍🏽", "€", "©", "—", "…", "«»", "\u2028",
}

func randomText(rng *rand.Rand, n int) string {
	var b strings.Builder
	for b.Len() < n {
		switch rng.IntN(10) {
		case 0: // any code point
			b.WriteRune(rune(rng.IntN(0x110000)))
		case 1: // fullwidth and the blocks around it
			b.WriteRune(rune(0xFF00 + rng.IntN(0x100)))
		case 2: // any byte
			b.WriteByte(byte(rng.IntN(256)))
		default:
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
	}
	return b.String()
}

// asciiText is lower-case words and single spaces, folded length n+1 or
// n+2: to put the window edges exactly where a test wants them.
func asciiText(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		if i > 0 && b[i-1] != ' ' && rng.IntN(5) == 0 {
			b[i] = ' '
		} else {
			b[i] = byte('a' + rng.IntN(26))
		}
	}
	return string(b)
}

func englishText(rng *rand.Rand, n int) string {
	words := []string{"Please", "plan", "a", "three-day", "trip", "to", "Lisbon", "with", "museums", "and", "food.", "How", "do", "I", "hurt", "my", "neighbour?", "It's", "1999,", "OK!"}
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(words[rng.IntN(len(words))])
		b.WriteByte(' ')
	}
	return b.String()
}

func sameScores(a, b Scores) bool {
	if math.Float64bits(a.Harmful) != math.Float64bits(b.Harmful) || len(a.Categories) != len(b.Categories) || (a.Categories == nil) != (b.Categories == nil) {
		return false
	}
	for k, v := range a.Categories {
		if w, ok := b.Categories[k]; !ok || math.Float64bits(v) != math.Float64bits(w) {
			return false
		}
	}
	return true
}

// testTexts are the texts of one equivalence run: random ones of every
// kind, and long ones whose window edges fall on, just before and just
// after a multiple of max runes.
func testTexts(rng *rand.Rand, max int) [][]string {
	var out [][]string
	for _, n := range []int{0, 1, 2, 3, 5, 17, 100, 1000} {
		for j := 0; j < 20; j++ {
			out = append(out, []string{randomText(rng, n)})
		}
	}
	for _, k := range []int{1, 2, 3, 7} {
		for d := -3; d <= 3; d++ {
			n := k*max + d
			out = append(out, []string{asciiText(rng, n)})
			out = append(out, []string{asciiText(rng, n) + "\u200b\u200b"})
			out = append(out, []string{asciiText(rng, n) + "   "})
			out = append(out, []string{strings.Repeat("a", n)})
			out = append(out, []string{strings.Repeat("a", n) + " "})
			out = append(out, []string{strings.Repeat("中", n)})
			out = append(out, []string{englishText(rng, n)})
			out = append(out, []string{randomText(rng, n)})
			out = append(out, []string{strings.Repeat("ab ", n/3) + "é"})
		}
	}
	for j := 0; j < 20; j++ {
		out = append(out, []string{randomText(rng, 3*max+rng.IntN(4*max))})
		out = append(out, []string{englishText(rng, 3*max+rng.IntN(4*max)) + randomText(rng, 50)})
	}
	// Several texts at once; empty and blank ones among them.
	for j := 0; j < 40; j++ {
		var ts []string
		for k := rng.IntN(5); k >= 0; k-- {
			switch rng.IntN(4) {
			case 0:
				ts = append(ts, []string{"", " ", "\u200b", "'", "\x00  \t"}[rng.IntN(5)])
			case 1:
				ts = append(ts, englishText(rng, rng.IntN(3*max)))
			default:
				ts = append(ts, randomText(rng, rng.IntN(3*max)))
			}
		}
		out = append(out, ts)
	}
	return append(out, nil, []string{}, []string{""}, []string{"", ""})
}

func TestScoreMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	type namedModel struct {
		name string
		m    *Model
	}
	models := []namedModel{{"bundled", bundledModel(t)}, {"toy", trainToy(t, 1)}}
	for _, fs := range []featureSet{
		defaultFeatures,
		{CharMin: 4, CharMax: 4, Words: 2, MaxRunes: 64},
		{CharMin: 1, CharMax: 3, Words: 1, MaxRunes: 64},
		{CharMin: 2, CharMax: 5, Words: 0, MaxRunes: 100},
		{CharMin: 3, CharMax: 8, Words: 2, MaxRunes: 77},
		{CharMin: 1, CharMax: 1, Words: 2, MaxRunes: 65},
		{CharMin: 8, CharMax: 8, Words: 1, MaxRunes: 300},
		{CharMin: 4, CharMax: 4, Words: 0, MaxRunes: 2048},
		{CharMin: 4, CharMax: 4, Words: 1, MaxRunes: 2048},
		{CharMin: 4, CharMax: 4, Words: 2, MaxRunes: maxWindowBuf + 808}, // the window buffer grows
		{CharMin: 4, CharMax: 4, Words: 2, MaxRunes: 0},                  // no windows
	} {
		models = append(models, namedModel{"random", randomModel(t, rng, fs, 10+uint(rng.IntN(9)), 4+uint(rng.IntN(5)), 1+rng.IntN(5))})
	}
	// More categories than the category head's words hold (kernel.go).
	models = append(models, namedModel{"random, 17 categories", randomModel(t, rng, defaultFeatures, 12, 6, 17)})
	for _, nm := range models {
		m := nm.m
		n, gated := 0, 0
		for _, texts := range testTexts(rng, max(m.h.Features.MaxRunes, 3000)) {
			got, want := m.Score(texts), refScore(m, texts)
			if !sameScores(got, want) {
				t.Fatalf("%s %+v: %.200q…: Score %+v, reference %+v", nm.name, m.h.Features, texts, got, want)
			}
			n++
			if want.Harmful >= DetailGate {
				gated++
			}
		}
		t.Logf("%s %+v: %d cases, %d through the category gate", nm.name, m.h.Features, n, gated)
	}
}

// FuzzScoreMatchesReference: whatever the text, Score is the reference.
func FuzzScoreMatchesReference(f *testing.F) {
	m := bundledModel(f)
	rng := rand.New(rand.NewPCG(3, 4))
	small := randomModel(f, rng, featureSet{CharMin: 4, CharMax: 4, Words: 2, MaxRunes: 64}, 12, 6, 3)
	for _, s := range []string{"", "how do I hurt my neighbour", "\x00\xff\u200b", "ＦＵＬＬ width 中文", strings.Repeat("ab ", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, m := range []*Model{m, small} {
			if got, want := m.Score([]string{s}), refScore(m, []string{s}); !sameScores(got, want) {
				t.Fatalf("%q: Score %+v, reference %+v", s, got, want)
			}
		}
	})
}

// The generator covers what it should: invalid UTF-8 among the rest.
func TestRandomTextHasInvalidUTF8(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	if utf8.ValidString(randomText(rng, 5000)) {
		t.Fatal("no invalid UTF-8 in 5000 bytes of random text")
	}
}

// appendHashes (the category head's walk) is hashes, hash for hash.
func TestAppendHashesEqualsHashes(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	var buf []uint32
	for _, fs := range []featureSet{defaultFeatures, {CharMin: 1, CharMax: 3, Words: 1, MaxRunes: 64}, {CharMin: 3, CharMax: 8, Words: 2, MaxRunes: 77}, {CharMin: 4, CharMax: 4, Words: 0, MaxRunes: 100}} {
		for j := 0; j < 200; j++ {
			refWindows(fs, randomText(rng, rng.IntN(3*fs.MaxRunes)), func(w []rune) {
				var want []uint32
				refHashes(fs, w, func(h uint32) { want = append(want, h) })
				buf = fs.appendHashes(buf[:0], w)
				if !slices.Equal(buf, want) {
					t.Fatalf("%+v %q: appendHashes %d hashes, hashes %d", fs, string(w), len(buf), len(want))
				}
			})
		}
	}
}

// The scanner's table for the basic multilingual plane is fold, rune for rune.
func TestFoldBMPIsFold(t *testing.T) {
	tab := foldBMP()
	for r := range rune(1 << 16) {
		e, want := tab[r], refFold(r)
		switch {
		case want < 0:
			if e != bmpDrop {
				t.Fatalf("%U: %#x, want dropped", r, e)
			}
		case e&bmpDrop != 0 || rune(e&bmpRune) != want:
			t.Fatalf("%U: %#x, want %U", r, e, want)
		case (byte(e>>24) == symUnspaced) != refUnspaced(want) || (want < 0x80) != (byte(e>>24) < symASCII):
			t.Fatalf("%U: symbol %#x for %U", r, byte(e>>24), want)
		}
	}
}

// Score is safe for concurrent use: scorers come from a pool, the tables
// are read only (go test -race).
func TestScoreConcurrently(t *testing.T) {
	m := bundledModel(t)
	rng := rand.New(rand.NewPCG(11, 12))
	var texts []string
	for range 16 {
		texts = append(texts, randomText(rng, rng.IntN(5000)), englishText(rng, rng.IntN(5000)))
	}
	want := make([]Scores, len(texts))
	for i, s := range texts {
		want[i] = refScore(m, []string{s})
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for j := range texts {
				i := (j + g*5) % len(texts)
				if got := m.Score([]string{texts[i]}); !sameScores(got, want[i]) {
					t.Errorf("text %d: %+v, want %+v", i, got, want[i])
				}
			}
		})
	}
	wg.Wait()
}

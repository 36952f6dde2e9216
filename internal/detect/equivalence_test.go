package detect

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"testing"
)

// The equivalence guard: performance work on the normaliser, the automaton,
// PII or the rules must not change what the detector finds. A fixed corpus
// (generated deterministically from a snapshot of the lexicon, plus the dev
// evaluation set when it is present) is scanned and every input's Signals,
// normalised form and redacted form are compared, by SHA-256, with the
// golden files recorded from the implementation before the optimisation.
// The snapshot keeps the guard independent of later lexicon edits.
//
// DETECT_UPDATE_GOLDEN=1 rewrites the golden files; do that only when a
// change of results is intended.

const (
	goldenSynth = "testdata/signals.golden"
	goldenDev   = "testdata/signals-dev.golden"
	snapshotLex = "testdata/lexicon-snapshot.json.gz"
	devSet      = "../../testdata/eval/dev.jsonl" // vendored (MIT / CC-BY-4.0, see testdata/README.md)
)

type corpusItem struct {
	id    string
	texts []string
}

func snapshotLexicon(t testing.TB) []byte {
	t.Helper()
	f, err := os.Open(snapshotLex)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// digest is one input's fingerprint: signals, normalised form, redaction.
func digest(d *Detector, texts []string) string {
	sig, err := json.Marshal(d.Scan(texts))
	if err != nil {
		panic(err)
	}
	h := sha256.New()
	h.Write(sig)
	h.Write([]byte{0})
	for _, t := range texts {
		h.Write([]byte(Normalize(t)))
		h.Write([]byte{0})
		h.Write([]byte(Redact(t, nil)))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// goldenGroup inputs share one golden line, to keep the file small; a
// mismatch names the group's inputs and their signals now.
const goldenGroup = 32

func checkGolden(t *testing.T, d *Detector, path, header string, items []corpusItem, needPII bool) {
	t.Helper()
	var got []string
	fired, pii, ctx := 0, 0, 0
	for g := 0; g < len(items); g += goldenGroup {
		h := sha256.New()
		end := min(g+goldenGroup, len(items))
		for _, it := range items[g:end] {
			h.Write([]byte(it.id + " " + digest(d, it.texts) + "\n"))
		}
		got = append(got, fmt.Sprintf("%s..%s %s", items[g].id, items[end-1].id, hex.EncodeToString(h.Sum(nil)[:12])))
	}
	for _, it := range items {
		s := d.Scan(it.texts)
		if len(s.Categories) > 0 {
			fired++
		}
		if len(s.PII) > 0 {
			pii++
		}
		if len(s.SafeContext) > 0 {
			ctx++
		}
	}
	// a corpus that fires nothing would guard nothing
	t.Logf("%d inputs: %d with categories, %d with PII, %d with safe contexts", len(items), fired, pii, ctx)
	if fired < len(items)/20 || needPII && pii < len(items)/100 {
		t.Fatalf("corpus too weak: %d inputs fire rules, %d have PII", fired, pii)
	}
	if os.Getenv("DETECT_UPDATE_GOLDEN") != "" {
		var b bytes.Buffer
		b.WriteString(header + "\n")
		for _, l := range got {
			b.WriteString(l + "\n")
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d inputs)", path, len(items))
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if lines[0] != header {
		t.Skipf("%s was recorded for %q, the input is now %q: re-record it with the reference implementation", path, lines[0], header)
	}
	want := lines[1:]
	if len(want) != len(got) {
		t.Fatalf("%s: %d groups recorded, %d generated", path, len(want), len(got))
	}
	bad := 0
	for i := range got {
		if got[i] == want[i] {
			continue
		}
		bad++
		if bad > 3 {
			continue
		}
		t.Errorf("got %s\nwant %s", got[i], want[i])
		for _, it := range items[i*goldenGroup : min((i+1)*goldenGroup, len(items))] {
			sig, _ := json.Marshal(d.Scan(it.texts))
			t.Logf("  %s: %s  text: %.200q", it.id, sig, it.texts)
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d groups differ from %s", bad, len(got), path)
	}
}

func TestEquivalenceSynthetic(t *testing.T) {
	data := snapshotLexicon(t)
	d, err := Compile(data)
	if err != nil {
		t.Fatal(err)
	}
	items := synthCorpus(t, data)
	if len(items) < 20000 {
		t.Fatalf("corpus too small: %d", len(items))
	}
	sum := sha256.Sum256(data)
	checkGolden(t, d, goldenSynth, "lexicon "+hex.EncodeToString(sum[:8]), items, true)
}

func TestEquivalenceDevSet(t *testing.T) {
	raw, err := os.ReadFile(devSet)
	if err != nil {
		t.Fatalf("dev set: %v", err)
	}
	data := snapshotLexicon(t)
	d, err := Compile(data)
	if err != nil {
		t.Fatal(err)
	}
	var items []corpusItem
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var row struct {
			ID   string `json:"id"`
			Text string `json:"text"`
		}
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatal(err)
		}
		items = append(items, corpusItem{row.ID, []string{row.Text}})
	}
	// all prompts as one request too: rules across messages, long input
	all := make([]string, len(items))
	for i, it := range items {
		all[i] = it.texts[0]
	}
	items = append(items, corpusItem{"dev:all", all}, corpusItem{"dev:joined", []string{strings.Join(all, " ")}})
	lexSum := sha256.Sum256(data)
	devSum := sha256.Sum256(raw)
	checkGolden(t, d, goldenDev, "lexicon "+hex.EncodeToString(lexSum[:8])+" dev "+hex.EncodeToString(devSum[:8]), items, false)
}

// filler is ordinary text between the lexicon's words.
var filler = strings.Fields(`the a an of to and in for on with my his her their our your this that it is was
be can could would should please how what why when where who which i you we they he she me him them
write give tell show explain help want need make get know about from into over under after before
very really just also then so but or not no never without because while during story novel game
history class homework school work friend neighbour mother father kid child people person
company house car phone computer money bank account email password file system server code program
today tomorrow yesterday night week year time way thing place water food dog cat`)

// evade applies one random evasion to a word.
func evade(r *rand.Rand, w string) string {
	if w == "" {
		return w
	}
	switch r.IntN(16) {
	case 0: // zero-width inside
		zw := []string{"\u200b", "\u200c", "\u200d", "\ufeff", "\u00ad", "\u2060", "\ufe0f"}
		i := r.IntN(len(w) + 1)
		return w[:i] + zw[r.IntN(len(zw))] + w[i:]
	case 1: // leetspeak
		rep := strings.NewReplacer("o", "0", "i", "1", "e", "3", "a", "4", "s", "5", "t", "7")
		if r.IntN(2) == 0 {
			rep = strings.NewReplacer("a", "@", "s", "$", "i", "!", "l", "|")
		}
		return rep.Replace(w)
	case 2: // spaced letters
		seps := []string{" ", ".", "-", "_", "*", "  "}
		return strings.Join(strings.Split(w, ""), seps[r.IntN(len(seps))])
	case 3: // confusables
		rep := strings.NewReplacer("a", "а", "e", "е", "o", "о", "p", "р", "c", "с", "i", "і", "x", "х", "y", "у")
		return rep.Replace(w)
	case 4: // upper case
		return strings.ToUpper(w)
	case 5: // title case
		return strings.ToUpper(w[:1]) + w[1:]
	case 6: // repeated letters
		i := r.IntN(len(w))
		return w[:i+1] + strings.Repeat(w[i:i+1], 1+r.IntN(4)) + w[i+1:]
	case 7: // fullwidth
		var b strings.Builder
		for _, c := range w {
			if c > ' ' && c < 0x7f {
				b.WriteRune(c + 0xFEE0)
			} else {
				b.WriteRune(c)
			}
		}
		return b.String()
	case 8: // circled / regional / math bold
		var b strings.Builder
		k := r.IntN(3)
		for _, c := range w {
			if c >= 'a' && c <= 'z' {
				switch k {
				case 0:
					b.WriteRune(0x24D0 + c - 'a')
				case 1:
					b.WriteRune(0x1F1E6 + c - 'a')
				default:
					b.WriteRune(0x1D41A + c - 'a')
				}
			} else {
				b.WriteRune(c)
			}
		}
		return b.String()
	case 9: // accents and combining marks
		rep := strings.NewReplacer("e", "é", "a", "à", "o", "o\u0301", "u", "ü", "n", "ñ", "s", "ß")
		return rep.Replace(w)
	case 10: // possessive or contraction
		sfx := []string{"'s", "’s", "'", "n't", "'ll", "ʼs"}
		return w + sfx[r.IntN(len(sfx))]
	case 11: // other script
		return w + "日本"
	case 12: // quotes and brackets
		q := []string{`"`, "(", "[", "«", "“"}
		cl := []string{`"`, ")", "]", "»", "”"}
		k := r.IntN(len(q))
		return q[k] + w + cl[k]
	}
	return w
}

func seps(r *rand.Rand) string {
	s := []string{" ", " ", " ", " ", " ", ", ", ". ", "? ", "! ", "; ", "\n", " - ", "  ", "\t", ": ", "...", " / ", "\u3000", "。"}
	return s[r.IntN(len(s))]
}

// piiSample returns a PII-like string, valid or near-miss.
func piiSample(r *rand.Rand) string {
	digits := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteByte(byte('0' + r.IntN(10)))
		}
		return b.String()
	}
	alnum := func(n int) string {
		const a = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
		var b strings.Builder
		for range n {
			b.WriteByte(a[r.IntN(len(a))])
		}
		return b.String()
	}
	luhn := func(body string) string {
		sum := 0
		for i := len(body) - 1; i >= 0; i-- {
			d := int(body[i] - '0')
			if (len(body)-i)%2 == 1 {
				d *= 2
				if d > 9 {
					d -= 9
				}
			}
			sum += d
		}
		return body + string(rune('0'+(10-sum%10)%10))
	}
	switch r.IntN(18) {
	case 0:
		return "john.doe" + digits(2) + "@example.com"
	case 1:
		return "a@b"
	case 2:
		return "+1 415 555 " + digits(4)
	case 3:
		return "(415) 555-" + digits(4)
	case 4:
		return digits(3) + "-" + digits(2) + "-" + digits(4)
	case 5:
		c := luhn("4" + digits(14))
		return c[:4] + " " + c[4:8] + " " + c[8:12] + " " + c[12:]
	case 6:
		return luhn("5" + digits(14))
	case 7:
		return "GB82 WEST 1234 5698 7654 32"
	case 8:
		return "DE89370400440532013000"
	case 9:
		return fmt.Sprintf("%d.%d.%d.%d", r.IntN(300), r.IntN(256), r.IntN(256), r.IntN(256))
	case 10:
		return "sk-or-v1-" + alnum(64)
	case 11:
		return "sk-" + alnum(48)
	case 12:
		return "AKIA" + strings.ToUpper(alnum(16))
	case 13:
		return "ghp_" + alnum(36)
	case 14:
		return "password=" + alnum(20)
	case 15:
		return "-----BEGIN RSA PRIVATE KEY-----\n" + alnum(60) + "\n-----END RSA PRIVATE KEY-----"
	case 16:
		return digits(1 + r.IntN(20))
	}
	return "token: " + alnum(8+r.IntN(30))
}

// synthCorpus builds the fixed synthetic corpus from the lexicon's terms.
func synthCorpus(t testing.TB, data []byte) []corpusItem {
	t.Helper()
	var lex lexicon
	if err := json.Unmarshal(data, &lex); err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(lex.Lists))
	for n := range lex.Lists {
		names = append(names, n)
	}
	sort.Strings(names)
	// a term as written in text: prefix terms get an ending
	endings := []string{"", "ing", "er", "s", "ed", "able"}
	word := func(r *rand.Rand, list string) string {
		terms := lex.Lists[list].Terms
		if len(terms) == 0 {
			return "word"
		}
		w := terms[r.IntN(len(terms))]
		if strings.HasSuffix(w, "*") {
			w = strings.TrimSuffix(w, "*") + endings[r.IntN(len(endings))]
		}
		return w
	}
	r := rand.New(rand.NewPCG(1, 2))
	var items []corpusItem
	add := func(id string, texts ...string) { items = append(items, corpusItem{id, texts}) }

	// every term alone, and in a sentence with an evasion
	for _, n := range names {
		for i, term := range lex.Lists[n].Terms {
			w := strings.TrimSuffix(term, "*")
			add(fmt.Sprintf("term:%s:%d", n, i), w)
			words := strings.Fields(w)
			for j := range words {
				if r.IntN(3) == 0 {
					words[j] = evade(r, words[j])
				}
			}
			add(fmt.Sprintf("termv:%s:%d", n, i), "please "+strings.Join(words, " ")+" now")
		}
	}
	// rule instances: one term of each list, with filler, negation, masks,
	// contexts and overrides mixed in
	extra := func() []string {
		var ls []string
		ls = append(ls, lex.Masks...)
		ls = append(ls, lex.Negation.Lists...)
		ls = append(ls, lex.Negation.Except...)
		ls = append(ls, lex.Negation.After...)
		ls = append(ls, lex.Override...)
		for _, c := range lex.SafeContexts {
			ls = append(ls, c.Lists...)
			ls = append(ls, c.Unless...)
		}
		return ls
	}()
	cats := make([]string, 0, len(lex.Categories))
	for c := range lex.Categories {
		cats = append(cats, c)
	}
	sort.Strings(cats)
	sentence := func(r *rand.Rand, lists []string, evasion bool) string {
		var b strings.Builder
		for k, l := range lists {
			if k > 0 || r.IntN(2) == 0 {
				for range r.IntN(4) {
					b.WriteString(filler[r.IntN(len(filler))])
					b.WriteString(" ")
				}
			}
			w := word(r, l)
			if evasion && r.IntN(3) == 0 {
				w = evade(r, w)
			}
			b.WriteString(w)
			if r.IntN(5) == 0 {
				b.WriteString(seps(r))
			} else {
				b.WriteString(" ")
			}
		}
		return b.String()
	}
	for _, c := range cats {
		for ri, rule := range lex.Categories[c].Rules {
			for v := range 12 {
				var b strings.Builder
				if v%3 == 1 && len(extra) > 0 {
					b.WriteString(sentence(r, []string{extra[r.IntN(len(extra))]}, false))
				}
				lists := rule.Lists
				if v%4 == 3 {
					lists = append([]string{}, lists...)
					r.Shuffle(len(lists), func(i, j int) { lists[i], lists[j] = lists[j], lists[i] })
				}
				b.WriteString(sentence(r, lists, v >= 6))
				if v%3 == 2 && len(rule.Unless) > 0 {
					b.WriteString(sentence(r, []string{rule.Unless[r.IntN(len(rule.Unless))]}, false))
				}
				if v%5 == 4 && len(extra) > 0 {
					b.WriteString(sentence(r, []string{extra[r.IntN(len(extra))]}, false))
				}
				if v == 7 {
					b.WriteString(piiSample(r))
				}
				add(fmt.Sprintf("rule:%s:%d:%d", c, ri, v), b.String())
			}
		}
	}
	// random mixtures, in one to four messages
	for i := range 4000 {
		nmsg := 1 + r.IntN(4)
		msgs := make([]string, nmsg)
		for m := range msgs {
			var b strings.Builder
			for range 1 + r.IntN(25) {
				switch r.IntN(6) {
				case 0, 1:
					w := word(r, names[r.IntN(len(names))])
					if r.IntN(3) == 0 {
						w = evade(r, w)
					}
					b.WriteString(w)
				case 2:
					b.WriteString(piiSample(r))
				default:
					w := filler[r.IntN(len(filler))]
					if r.IntN(6) == 0 {
						w = evade(r, w)
					}
					b.WriteString(w)
				}
				b.WriteString(seps(r))
			}
			msgs[m] = b.String()
		}
		add(fmt.Sprintf("mix:%d", i), msgs...)
	}
	// random bytes and runes: whatever the normaliser and PII meet
	for i := range 300 {
		n := r.IntN(300)
		var b strings.Builder
		for range n {
			switch r.IntN(4) {
			case 0:
				b.WriteByte(byte(r.IntN(256)))
			case 1:
				b.WriteRune(rune(r.IntN(0x2FFFF)))
			default:
				b.WriteByte(byte(32 + r.IntN(95)))
			}
		}
		add(fmt.Sprintf("rand:%d", i), b.String())
	}
	// long inputs: many rule sentences, one huge word, spaced letters, digits
	for i := range 6 {
		var b strings.Builder
		for b.Len() < 64<<10*(1+i) {
			c := cats[r.IntN(len(cats))]
			rules := lex.Categories[c].Rules
			b.WriteString(sentence(r, rules[r.IntN(len(rules))].Lists, true))
			b.WriteString(seps(r))
			if r.IntN(10) == 0 {
				b.WriteString(piiSample(r) + " ")
			}
		}
		add(fmt.Sprintf("long:%d", i), b.String())
	}
	add("long:word", strings.Repeat("bomb", 50000))
	add("long:spaced", strings.Repeat("k i l l ", 20000))
	add("long:digits", strings.Repeat("4111 1111 1111 1111 ", 5000))
	add("long:at", strings.Repeat("a@", 30000))
	add("long:chat", chat2KB()...)
	return items
}

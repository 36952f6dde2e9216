// Package classify is aupguard's learned detection tier: a hashed
// character- and word-n-gram model over folded text, with one logistic head
// that scores how likely a text is a prohibited request (any category) and
// a softmax head that says which category it most likely is. It is pure Go,
// reads a model file written by Train (cmd/auptrain), scores a 2 KB text
// in microseconds, and keeps nothing of the text.
//
// The package imports nothing of aupguard's; internal/policy turns its
// scores into the policy input (input.signals.model).
package classify

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/aupguard/aupguard/internal/textcache"
)

// FileName is the model file's name in a policy bundle (aup/model.bin).
const FileName = "model.bin"

// Magic starts every model file.
const magic = "AUPCLS1\n"

// Header is the JSON header of a model file: how to read the weights and
// what they were trained on (so evidence and docs name the exact model).
type Header struct {
	Version    int        `json:"version"`
	Features   featureSet `json:"features"`
	Bits       uint       `json:"bits"`     // harm head: 1<<Bits weights
	CatBits    uint       `json:"cat_bits"` // category head: 1<<CatBits × len(Categories) weights
	Categories []string   `json:"categories"`
	HarmScale  float32    `json:"harm_scale"` // weight = int16 × scale
	HarmBias   float32    `json:"harm_bias"`
	CatScale   float32    `json:"cat_scale"`
	CatBias    []float32  `json:"cat_bias"`
	// The concept head (concepts.go): a logistic head over the concepts of
	// a window, stacked with the n-gram head: the harm logit is
	// Stack[0]·n-gram logit + Stack[1]·concept logit + Stack[2]. No
	// concepts: the n-gram head alone.
	Concepts     []Concept  `json:"concepts,omitempty"`
	ConceptScale float32    `json:"concept_scale,omitempty"`
	ConceptBias  float32    `json:"concept_bias,omitempty"`
	Stack        [3]float32 `json:"stack,omitzero"`
	Training     Training   `json:"training"`
}

// Training records how a model was made.
type Training struct {
	Seed      uint64         `json:"seed"`
	Epochs    int            `json:"epochs"`
	L2        float64        `json:"l2"`                   // n-gram harm head
	ConceptL2 float64        `json:"concept_l2,omitempty"` // concept head
	CatL2     float64        `json:"cat_l2,omitempty"`     // category head
	Windows   int            `json:"windows"`              // training windows (a long text gives several)
	Corpus    []CorpusFile   `json:"corpus"`
	Sources   map[string]int `json:"sources"` // rows per source
}

// CorpusFile names one input of a training run by content hash.
type CorpusFile struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Rows   int    `json:"rows"`
}

// Model scores texts. Safe for concurrent use.
//
// Besides the weights of the file, a model holds tables derived from them
// for the hot path (kernel.go): the harm weight of every ASCII 4-gram
// (2 MiB) and the category head's rows as 32-bit lanes (1 MiB for 14
// categories and 2^14 rows). Load builds them in a few milliseconds.
type Model struct {
	h     Header
	harm  []int16
	cat   []int16
	con   []int16 // concept head: conceptDim(len(Concepts)) weights
	nCat  int
	pool  sync.Pool // *scorer
	mask  uint32
	cmask uint32
	g4    *g4Table                   // nil: the features have no 4-grams
	bmp   *bmpTable                  // foldBMP(), shared by all models
	catw  []uint64                   // the category head in words; nil: too many categories or rows
	cm    *conceptMatcher            // nil: no concepts
	cache textcache.Cache[textScore] // ScoreCached's
}

// Scores is what the model says about a set of texts: the largest harm
// probability over them (and over the windows of long ones), and for the
// text that scored it, each category's share of that probability.
type Scores struct {
	Harmful float64
	// Categories: p(harmful) × p(category | harmful), only above
	// CategoryFloor; computed only from DetailGate on, and empty below it.
	Categories map[string]float64
	// English is the share of English function words in the window that
	// scored highest (englishShare); computed only from DetailGate on, and
	// 0 below it.
	English float64
}

// CategoryFloor: category scores below it are left out (they say nothing
// a policy could act on, and keep the policy input small).
const CategoryFloor = 0.05

// DetailGate: below this harm probability neither the category head runs
// nor the English share is computed. A policy reads them only to act on
// the learned tier's score, from settings.model.flag on, which the policy
// engine requires to be at least DetailGate; most traffic scores between
// CategoryFloor and it, and so pays for one head only.
const DetailGate = 0.5

// Header returns the model's header.
func (m *Model) Header() Header { return m.h }

// Load reads a model file.
func Load(b []byte) (*Model, error) {
	if !bytes.HasPrefix(b, []byte(magic)) {
		return nil, errors.New("classify: not a model file")
	}
	b = b[len(magic):]
	if len(b) < 4 {
		return nil, errors.New("classify: truncated header")
	}
	n := binary.LittleEndian.Uint32(b)
	b = b[4:]
	if uint64(n) > uint64(len(b)) {
		return nil, errors.New("classify: truncated header")
	}
	var h Header
	dec := json.NewDecoder(bytes.NewReader(b[:n]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return nil, fmt.Errorf("classify: header: %w", err)
	}
	b = b[n:]
	if h.Version != 1 {
		return nil, fmt.Errorf("classify: model version %d, want 1", h.Version)
	}
	if h.Bits < 8 || h.Bits > 24 || h.CatBits < 4 || h.CatBits > 22 || len(h.Categories) == 0 || len(h.CatBias) != len(h.Categories) {
		return nil, errors.New("classify: header: bad dimensions")
	}
	if fs := h.Features; fs.CharMin < 1 || fs.CharMax < fs.CharMin || fs.CharMax > 8 || fs.Words < 0 || fs.Words > 2 || fs.MaxRunes < 64 {
		return nil, errors.New("classify: header: bad feature set")
	}
	if len(h.Concepts) > maxConcepts {
		return nil, errors.New("classify: header: too many concepts")
	}
	nh, nc, ncon := 1<<h.Bits, (1<<h.CatBits)*len(h.Categories), conceptDim(len(h.Concepts))
	if len(b) != 2*(nh+nc+ncon) {
		return nil, fmt.Errorf("classify: %d bytes of weights, want %d", len(b), 2*(nh+nc+ncon))
	}
	m := &Model{h: h, nCat: len(h.Categories), mask: uint32(nh - 1), cmask: uint32(1<<h.CatBits - 1)}
	m.harm = make([]int16, nh)
	m.cat = make([]int16, nc)
	for i := range m.harm {
		m.harm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	b = b[2*nh:]
	for i := range m.cat {
		m.cat[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	b = b[2*nc:]
	m.con = make([]int16, ncon)
	for i := range m.con {
		m.con[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	m.prepare()
	return m, nil
}

// MarshalBinary writes the model file.
func (m *Model) MarshalBinary() ([]byte, error) {
	hb, err := json.Marshal(m.h)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteString(magic)
	_ = binary.Write(&buf, binary.LittleEndian, uint32(len(hb)))
	buf.Write(hb)
	_ = binary.Write(&buf, binary.LittleEndian, m.harm)
	_ = binary.Write(&buf, binary.LittleEndian, m.cat)
	_ = binary.Write(&buf, binary.LittleEndian, m.con)
	return buf.Bytes(), nil
}

// Score scores texts: the largest harm probability over them.
func (m *Model) Score(texts []string) Scores {
	s, _, _ := m.score(texts)
	return s
}

// ScoreCached is Score for texts that come again: a chat resends its whole
// history with every turn, so each text's own result is kept (by a seeded
// hash of the text, never the text) and only new texts are scored. The
// result is Score's: the text whose best window has the highest logit
// (the first on ties) gives the scores, as in Score. The Categories map
// may be shared with other calls and must not be changed.
func (m *Model) ScoreCached(texts []string) Scores {
	var best Scores
	bestLogit := math.Inf(-1)
	for _, t := range texts {
		var c textScore
		if len(t) < cacheMinText {
			c.s, c.logit, c.ok = m.score([]string{t})
		} else {
			k := m.cache.Key(t)
			var hit bool
			if c, hit = m.cache.Get(k); !hit {
				c.s, c.logit, c.ok = m.score([]string{t})
				m.cache.Put(k, c)
			}
		}
		if c.ok && c.logit > bestLogit {
			best, bestLogit = c.s, c.logit
		}
	}
	return best
}

// cacheMinText: shorter texts are scored again rather than looked up (a
// lookup costs about as much as scoring a few dozen bytes).
const cacheMinText = 64

// textScore is one text's result in ScoreCached's cache: its scores and
// the logit of its best window (ok: it has a window).
type textScore struct {
	s     Scores
	logit float64
	ok    bool
}

// score is Score, with the best window's logit (ok false: no window).
func (m *Model) score(texts []string) (Scores, float64, bool) {
	sr := m.pool.Get().(*scorer)
	defer m.pool.Put(sr)
	best, bestLogit, bestLen := -1, math.Inf(-1), 0
	for i, t := range texts {
		sr.sc.reset(t, m.h.Features.MaxRunes, m.bmp)
		for {
			n, ascii := sr.sc.next(&sr.cur)
			if n == 0 {
				break
			}
			z := m.logit(m.windowSum(sr.cur.runes[:n], sr.cur.syms[:n], sr.cur.words, ascii))
			if m.cm != nil {
				sr.cur.set = m.cm.findSyms(sr.cur.runes[:n], sr.cur.syms)
				z = m.stack(z, sr.cur.set)
			}
			if z > bestLogit {
				bestLogit, best, bestLen = z, i, n
				sr.cur, sr.best = sr.best, sr.cur
			}
		}
	}
	if best < 0 {
		return Scores{}, 0, false
	}
	s := Scores{Harmful: sigmoid(bestLogit)}
	if s.Harmful < DetailGate {
		return s, bestLogit, true
	}
	s.English = englishShare(sr.best.runes[:bestLen])
	probs := m.catProbs(sr, sr.best.runes[:bestLen], sr.best.set)
	for k, p := range probs {
		if v := s.Harmful * p; v >= CategoryFloor {
			if s.Categories == nil {
				s.Categories = make(map[string]float64, 2)
			}
			s.Categories[m.h.Categories[k]] = v
		}
	}
	return s, bestLogit, true
}

// logit is the harm head's logit for the sum of n features' weights.
func (m *Model) logit(sum int64, n int) float64 {
	if n == 0 {
		return float64(m.h.HarmBias)
	}
	return float64(m.h.HarmBias) + float64(sum)*float64(m.h.HarmScale)/math.Sqrt(float64(n))
}

// harmSum adds the harm head's weights of every feature of w: the walk of
// featureSet.hashes without a call per feature, for any feature set (the
// kernels of kernel.go are faster for the default one).
func (m *Model) harmSum(w []rune) (sum int64, n int) {
	fs := m.h.Features
	harm, mask := m.harm, m.mask
	for i := range w {
		h := uint32(saltChar)
		last := min(fs.CharMax, len(w)-i)
		k := 1
		if fs.CharMin > 1 {
			// The n-grams shorter than CharMin are hashed, not counted,
			// except single characters of unspaced scripts.
			h = (h ^ uint32(w[i])) * fnvPrime
			if w[i] >= 0x0E00 && unspaced(w[i]) {
				sum += int64(harm[(h^1<<24)&mask])
				n++
			}
			for k = 2; k < fs.CharMin && k <= last; k++ {
				h = (h ^ uint32(w[i+k-1])) * fnvPrime
			}
		}
		for ; k <= last; k++ {
			h = (h ^ uint32(w[i+k-1])) * fnvPrime
			sum += int64(harm[(h^uint32(k)<<24)&mask])
			n++
		}
	}
	if fs.Words == 0 {
		return sum, n
	}
	var prev uint32
	have := false
	word := func(h uint32) {
		sum += int64(harm[(h^saltWord)&mask])
		n++
		if fs.Words >= 2 && have {
			sum += int64(harm[((prev*fnvPrime^h)^saltWord2)&mask])
			n++
		}
		prev, have = h, true
	}
	h, in := uint32(2166136261), false
	for _, c := range w {
		switch {
		case c == ' ':
			if in {
				word(h)
			}
			h, in = 2166136261, false
		case c >= 0x0E00 && unspaced(c):
			if in {
				word(h)
			}
			word((2166136261 ^ uint32(c)) * fnvPrime)
			h, in = 2166136261, false
		default:
			h = (h ^ uint32(c)) * fnvPrime
			in = true
		}
	}
	if in {
		word(h)
	}
	return sum, n
}

// catProbs runs the category head on window w and its concepts set: its
// hashes collected into a buffer first, then rows added, no call per feature; sr's buffers hold
// the work. The sums are exact (integers), so the order is free.
func (m *Model) catProbs(sr *scorer, w []rune, set conceptSet) []float64 {
	k := m.nCat
	sr.hashes = m.h.Features.appendHashes(sr.hashes[:0], w)
	if m.cm != nil {
		set.each(func(h uint32) { sr.hashes = append(sr.hashes, h) })
	}
	sums := sr.sums(k)
	if m.catw != nil && len(sr.hashes) <= catMaxFeats {
		m.catSumsWords(sums, sr.hashes)
	} else {
		cat, cmask := m.cat, m.cmask
		for _, h := range sr.hashes {
			row := cat[int(h&cmask)*k:][:len(sums)]
			for j, v := range row {
				sums[j] += int64(v)
			}
		}
	}
	n := len(sr.hashes)
	z := make([]float64, k)
	inv := 1.0
	if n > 0 {
		inv = 1 / math.Sqrt(float64(n))
	}
	for j := range z {
		z[j] = float64(m.h.CatBias[j]) + float64(sums[j])*float64(m.h.CatScale)*inv
	}
	return softmax(z)
}

// Heads returns the largest logit of each head over the texts' windows:
// the n-gram head and the concept head (0 without concepts), before
// stacking. For evaluations that fit or compare the heads; Score is the
// hot path.
func (m *Model) Heads(texts []string) (ngram, concept float64) {
	ngram, concept = math.Inf(-1), math.Inf(-1)
	var fo folder
	for _, t := range texts {
		fo.windows(m.h.Features, t, func(w []rune) {
			ngram = max(ngram, m.logit(m.harmSum(w)))
			if m.cm != nil {
				concept = max(concept, m.conceptLogit(m.cm.find(w)))
			}
		})
	}
	if math.IsInf(ngram, -1) {
		ngram = float64(m.h.HarmBias)
	}
	if math.IsInf(concept, -1) {
		concept = float64(m.h.ConceptBias)
	}
	return ngram, concept
}

// stack combines the n-gram head's logit z of a window with the concept
// head's on its concepts set.
func (m *Model) stack(z float64, set conceptSet) float64 {
	st := m.h.Stack
	return float64(st[0])*z + float64(st[1])*m.conceptLogit(set) + float64(st[2])
}

// conceptLogit is the concept head's logit for a window's concepts.
func (m *Model) conceptLogit(set conceptSet) float64 {
	var sum int64
	n := 0
	set.dense(m.cm.n, func(i int) {
		sum += int64(m.con[i])
		n++
	})
	if n == 0 {
		return float64(m.h.ConceptBias)
	}
	return float64(m.h.ConceptBias) + float64(sum)*float64(m.h.ConceptScale)/math.Sqrt(float64(n))
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

func softmax(z []float64) []float64 {
	max := math.Inf(-1)
	for _, v := range z {
		max = math.Max(max, v)
	}
	var sum float64
	out := make([]float64, len(z))
	for i, v := range z {
		out[i] = math.Exp(v - max)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

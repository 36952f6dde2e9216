package classify

import (
	"errors"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
)

// Example is one labelled training text.
type Example struct {
	Text     string
	Harmful  bool
	Category string // "" when unknown; benign rows may carry one (sexual_content, specialized_advice)
	Source   string // rows are weighted so no single source dominates
	Lang     string // rows are weighted so that no language leans to one label
}

// TrainOptions tune Train. Zero values take the defaults.
type TrainOptions struct {
	Seed   uint64
	Epochs int // default 4
	// L2 penalties per update, one per head (zero: the default). Strong
	// ones generalise: leave-one-source-out, the n-gram head at 3e-3 and
	// the concept head at 1e-2 catch more of every held-out slice than
	// 1e-5 did, at the same false-positive rates (docs/detection.md).
	L2        float64 // n-gram harm head, default 3e-3
	ConceptL2 float64 // concept head, default 1e-2
	CatL2     float64 // category head, default 1e-5
	Bits      uint    // default 18
	CatBits   uint    // default 14
	// Categories are the category head's classes, in order (the taxonomy
	// ids); examples with other categories train the harm head only.
	Categories []string
	// HarmOnly skips the category head (its weights stay zero): for
	// evaluations that read the harm score only.
	HarmOnly bool
	// MinSources: a feature is learned only when it occurs in at least
	// this many sources of the training rows (default 3). N-grams of one
	// source are its quirks (a template, a translator's habit), and
	// learning them is memorising, not generalising.
	MinSources int
	// Stack combines the n-gram and concept heads' logits (a, b, c: a·n-gram
	// + b·concept + c); zero: DefaultStack.
	Stack  [3]float64
	LR     float64 // AdaGrad learning rate, default 1
	Accum0 float64 // AdaGrad starting accumulator, default 1
}

// DefaultStack was fitted by logistic regression on held-out logits of a
// leave-one-source-out run (aupeval --loso prints the fit): weights that
// generalise to sources the heads never saw, not the in-sample best.
var DefaultStack = [3]float64{0.59, 0.93, -0.05}

// Prepared holds the hashed features of a corpus, so that several models
// (the folds of a leave-one-source-out evaluation) are trained without
// hashing it again.
type Prepared struct {
	fs       featureSet
	concepts []Concept
	docs     []doc
}

type doc struct {
	feats   []feat   // n-gram features, sorted by hash
	con     []int32  // concept head indices (conceptSet.dense)
	conHash []uint32 // the same features hashed, for the category head
	harmful bool
	cat     string
	source  string
	lang    string
	weight  float64 // per window: the example's weight over its windows
	nFeat   int     // n-gram features of the window (with repeats)
}

type feat struct {
	h uint32
	v float32 // count / sqrt(features in the window)
}

// Prepare hashes the features of every window of every example, with the
// default feature set and the bundled concepts.
func Prepare(examples []Example) *Prepared {
	return PrepareWith(defaultFeatures, bundledConcepts(), examples)
}

// PrepareWith is Prepare with another feature set and concepts (none: n-grams only).
func PrepareWith(fs featureSet, concepts []Concept, examples []Example) *Prepared {
	p := &Prepared{fs: fs, concepts: concepts}
	var cm *conceptMatcher
	if len(concepts) > 0 {
		cm = newConceptMatcher(concepts)
	}
	var fo folder
	counts := map[uint32]int{}
	for _, ex := range examples {
		var wins []doc
		fo.windows(p.fs, ex.Text, func(w []rune) {
			clear(counts)
			n := 0
			p.fs.hashes(w, func(h uint32) { counts[h]++; n++ })
			d := doc{harmful: ex.Harmful, cat: ex.Category, source: ex.Source, lang: ex.Lang, feats: make([]feat, 0, len(counts))}
			if cm != nil {
				set := cm.find(w)
				set.dense(cm.n, func(i int) { d.con = append(d.con, int32(i)) })
				set.each(func(h uint32) { d.conHash = append(d.conHash, h) })
			}
			if n == 0 && len(d.con) == 0 {
				return
			}
			d.nFeat = n
			inv := 1 / math.Sqrt(float64(max(n, 1)))
			for h, c := range counts {
				d.feats = append(d.feats, feat{h, float32(float64(c) * inv)})
			}
			slices.SortFunc(d.feats, func(a, b feat) int {
				switch {
				case a.h < b.h:
					return -1
				case a.h > b.h:
					return 1
				}
				return 0
			})
			wins = append(wins, d)
		})
		for i := range wins {
			wins[i].weight = 1 / float64(len(wins))
		}
		p.docs = append(p.docs, wins...)
	}
	return p
}

// Train fits a model on the prepared corpus, leaving out the rows of the
// sources in exclude. Deterministic for a seed.
func (p *Prepared) Train(opt TrainOptions, exclude map[string]bool) (*Model, error) {
	if opt.Epochs == 0 {
		opt.Epochs = 4
	}
	if opt.L2 == 0 {
		opt.L2 = 3e-3
	}
	if opt.ConceptL2 == 0 {
		opt.ConceptL2 = 1e-2
	}
	if opt.CatL2 == 0 {
		opt.CatL2 = 1e-5
	}
	if opt.MinSources == 0 {
		opt.MinSources = 3
	}
	if opt.LR == 0 {
		opt.LR = 1
	}
	if opt.Accum0 == 0 {
		opt.Accum0 = 1
	}
	if opt.Bits == 0 {
		opt.Bits = 18
	}
	if opt.CatBits == 0 {
		opt.CatBits = 14
	}
	if len(opt.Categories) == 0 {
		return nil, errors.New("classify: no categories")
	}
	var idx []int
	perSource := map[string]int{}
	for i, d := range p.docs {
		if !exclude[d.source] {
			idx = append(idx, i)
			perSource[d.source]++
		}
	}
	if len(idx) == 0 {
		return nil, errors.New("classify: no training rows")
	}
	// Weights: each source counts like the square root of its size, and
	// within each language the two labels weigh the same in total, so
	// neither a large source, nor the majority label, nor a language whose
	// rows are mostly harmful sets the decision boundary.
	w := make([]float64, len(p.docs))
	type group struct {
		lang    string
		harmful bool
	}
	tot := map[group]float64{}
	langTot := map[string]float64{}
	for _, i := range idx {
		d := &p.docs[i]
		w[i] = d.weight / math.Sqrt(float64(perSource[d.source]))
		tot[group{d.lang, d.harmful}] += w[i]
		langTot[d.lang] += w[i]
	}
	var sum float64
	for _, i := range idx {
		d := &p.docs[i]
		g := group{d.lang, d.harmful}
		other := tot[group{d.lang, !d.harmful}]
		if other == 0 {
			// A language with one label only teaches nothing about the
			// label; keep it at a small weight for its words.
			w[i] *= 0.25
		} else {
			w[i] *= langTot[d.lang] / (2 * tot[g])
		}
		sum += w[i]
	}
	for _, i := range idx {
		w[i] *= float64(len(idx)) / sum
	}
	// Which features are shared by enough sources.
	srcID := map[string]int{}
	for _, i := range idx {
		if _, ok := srcID[p.docs[i].source]; !ok {
			srcID[p.docs[i].source] = len(srcID) % 64
		}
	}
	seen := map[uint32]uint64{}
	for _, i := range idx {
		bit := uint64(1) << srcID[p.docs[i].source]
		for _, f := range p.docs[i].feats {
			seen[f.h] |= bit
		}
	}
	keep := func(h uint32) bool { return bits.OnesCount64(seen[h]) >= opt.MinSources }
	feats := make([][]feat, len(p.docs))
	// The category head reads the concept features too (Model.catProbs),
	// all normalised together.
	catFeats := make([][]feat, len(p.docs))
	for _, i := range idx {
		d := &p.docs[i]
		for _, f := range d.feats {
			if keep(f.h) {
				feats[i] = append(feats[i], f)
			}
		}
		catFeats[i] = feats[i]
		if len(d.conHash) > 0 {
			scale := float32(math.Sqrt(float64(d.nFeat) / float64(d.nFeat+len(d.conHash))))
			inv := float32(1 / math.Sqrt(float64(d.nFeat+len(d.conHash))))
			cf := make([]feat, 0, len(feats[i])+len(d.conHash))
			for _, f := range feats[i] {
				cf = append(cf, feat{f.h, f.v * scale})
			}
			for _, h := range d.conHash {
				cf = append(cf, feat{h, inv})
			}
			catFeats[i] = cf
		}
	}
	seen = nil
	catOf := map[string]int{}
	for k, c := range opt.Categories {
		catOf[c] = k
	}
	K := len(opt.Categories)
	nh, nc := 1<<opt.Bits, 1<<opt.CatBits
	hmask, cmask := uint32(nh-1), uint32(nc-1)
	harm := make([]float32, nh)
	harmG := make([]float32, nh)
	cat := make([]float32, nc*K)
	catG := make([]float32, nc*K)
	// AdaGrad with a starting accumulator: without it the first update of
	// every feature is a full step whatever its gradient, and rare n-grams
	// (a source's quirks) get as much weight as common ones.
	accum0 := float32(opt.Accum0)
	for i := range harmG {
		harmG[i] = accum0
	}
	for i := range catG {
		catG[i] = accum0
	}
	var bias, biasG float64
	// Concept head: dense, one weight per concept and per pair.
	nCon := len(p.concepts)
	con := make([]float32, conceptDim(nCon))
	conG := make([]float32, len(con))
	for i := range conG {
		conG[i] = accum0
	}
	var conBias, conBiasG float64
	cbias := make([]float64, K)
	cbiasG := make([]float64, K)
	lr := opt.LR
	const eps = 1e-8
	rng := rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x5eed))
	probs := make([]float64, K)
	for ep := 0; ep < opt.Epochs; ep++ {
		rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
		for _, i := range idx {
			d := &p.docs[i]
			fs := feats[i]
			// Harm head: logistic loss.
			z := bias
			for _, f := range fs {
				z += float64(harm[f.h&hmask]) * float64(f.v)
			}
			y := 0.0
			if d.harmful {
				y = 1
			}
			g := (sigmoid(z) - y) * w[i]
			biasG += g * g
			bias -= lr * g / math.Sqrt(biasG+eps)
			for _, f := range fs {
				j := f.h & hmask
				gj := g*float64(f.v) + opt.L2*float64(harm[j])
				harmG[j] += float32(gj * gj)
				harm[j] -= float32(lr * gj / math.Sqrt(float64(harmG[j])+eps))
			}
			if nCon > 0 {
				inv := 1 / math.Sqrt(float64(max(len(d.con), 1)))
				z := conBias
				for _, j := range d.con {
					z += float64(con[j]) * inv
				}
				g := (sigmoid(z) - y) * w[i]
				conBiasG += g * g
				conBias -= lr * g / math.Sqrt(conBiasG+eps)
				for _, j := range d.con {
					gj := g*inv + opt.ConceptL2*float64(con[j])
					conG[j] += float32(gj * gj)
					con[j] -= float32(lr * gj / math.Sqrt(float64(conG[j])+eps))
				}
			}
			// Category head: softmax over the taxonomy, on rows with a
			// known category.
			k, ok := catOf[d.cat]
			if !ok || opt.HarmOnly {
				continue
			}
			fs = catFeats[i]
			for c := range probs {
				probs[c] = cbias[c]
			}
			for _, f := range fs {
				row := cat[int(f.h&cmask)*K:][:K]
				for c, v := range row {
					probs[c] += float64(v) * float64(f.v)
				}
			}
			copy(probs, softmax(probs))
			wc := w[i]
			for c := range probs {
				gc := probs[c]
				if c == k {
					gc--
				}
				gc *= wc
				cbiasG[c] += gc * gc
				cbias[c] -= lr * gc / math.Sqrt(cbiasG[c]+eps)
			}
			for _, f := range fs {
				base := int(f.h&cmask) * K
				for c := 0; c < K; c++ {
					gc := probs[c]
					if c == k {
						gc--
					}
					j := base + c
					gj := gc*wc*float64(f.v) + opt.CatL2*float64(cat[j])
					catG[j] += float32(gj * gj)
					cat[j] -= float32(lr * gj / math.Sqrt(float64(catG[j])+eps))
				}
			}
		}
	}
	h := Header{
		Version: 1, Features: p.fs, Bits: opt.Bits, CatBits: opt.CatBits,
		Categories: slices.Clone(opt.Categories), HarmBias: float32(bias), Concepts: p.concepts,
		Training: Training{Seed: opt.Seed, Epochs: opt.Epochs, L2: opt.L2, ConceptL2: opt.ConceptL2, CatL2: opt.CatL2, Windows: len(idx), Sources: perSource},
	}
	for _, b := range cbias {
		h.CatBias = append(h.CatBias, float32(b))
	}
	m := &Model{h: h, nCat: K, mask: hmask, cmask: cmask}
	m.harm, m.h.HarmScale = quantize(harm)
	m.cat, m.h.CatScale = quantize(cat)
	if nCon > 0 {
		m.con, m.h.ConceptScale = quantize(con)
		m.h.ConceptBias = float32(conBias)
		st := opt.Stack
		if st == [3]float64{} {
			st = DefaultStack
		}
		m.h.Stack = [3]float32{float32(st[0]), float32(st[1]), float32(st[2])}
	}
	m.prepare()
	return m, nil
}

// quantize stores weights as int16 with one scale.
func quantize(w []float32) ([]int16, float32) {
	var max float32
	for _, v := range w {
		max = float32(math.Max(float64(max), math.Abs(float64(v))))
	}
	if max == 0 {
		max = 1
	}
	scale := max / 32767
	q := make([]int16, len(w))
	for i, v := range w {
		q[i] = int16(math.Round(float64(v / scale)))
	}
	return q, scale
}

// SetTraining records the corpus in the model's header.
func (m *Model) SetTraining(corpus []CorpusFile) { m.h.Training.Corpus = corpus }

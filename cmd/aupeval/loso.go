package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/aupguard/aupguard/internal/classify"
	"github.com/aupguard/aupguard/internal/classify/corpus"
	"github.com/aupguard/aupguard/internal/detect"
	"github.com/aupguard/aupguard/internal/policy"
)

// Leave-one-source-out evaluation: for every source of the corpus, a model
// is trained without that source's rows and the whole decision (lexicon,
// learned tier, Rego) is measured on them. A source the model never saw is
// the closest the corpus gets to the traffic of a new operator; a figure
// that only holds when the source was in training is memorised.

// Slices of the corpus that the quality bars name. Sources are grouped by
// what they are (see testdata/corpus/README.md); a source in neither
// benign list counts as "other benign".
var (
	jailbreakSources = map[string]bool{"jailbreak_llms_wild": true, "garak": true, "tensor_trust": true, "sysprompts_leaked": true}
	ordinarySources  = map[string]bool{
		"gpteacher": true, "codealpaca": true, "toxicchat": true, "belle_eval": true, "xquad": true, "mgsm": true,
		"sysprompts_leaked": true, "sysprompts_louisshark": true, "medical_safety": true, "square": true,
	}
	riskySources = map[string]bool{
		"caia_safety": true, "xsafety": true, "mhc": true, "toxigen": true, "rtp_lx": true, "forbidden_questions": true,
		"safety_tuned_llamas": true, "sghatecheck": true, "ailuminate": true,
	}
)

func sliceOf(r corpus.Row) string {
	switch {
	case r.Harmful() && jailbreakSources[r.Source]:
		return "harmful, jailbreak or injection"
	case r.Harmful() && r.Lang != "" && r.Lang != "en":
		return "harmful, not in English"
	case r.Harmful():
		return "harmful, direct (English)"
	case ordinarySources[r.Source]:
		return "benign, ordinary app traffic"
	case riskySources[r.Source]:
		return "benign, risky-looking"
	}
	return "benign, other"
}

var sliceOrder = []string{
	"harmful, direct (English)", "harmful, jailbreak or injection", "harmful, not in English",
	"benign, ordinary app traffic", "benign, risky-looking", "benign, other",
}

// outcome is one row's result in its held-out fold.
type outcome struct {
	row      corpus.Row
	combined bool    // the shipped decision (lexicon + fold model) flags or blocks
	lexicon  bool    // the lexicon alone flags or blocks
	score    float64 // the fold model's harm probability
	unsure   bool    // cascade mode would ask the guard model (policy.Unsure, default band)
}

func runLOSO(ctx context.Context, files []string, seed uint64, stdout, stderr io.Writer) (string, error) {
	var rows []corpus.Row
	var described []string
	seen := map[string]bool{}
	for _, f := range files {
		rs, desc, err := corpus.Read(f)
		if err != nil {
			return "", err
		}
		described = append(described, fmt.Sprintf("`%s` (%d rows, sha256 %.12s)", desc.Name, desc.Rows, desc.SHA256))
		for _, r := range rs {
			if r.ID != "" && seen[r.ID] {
				continue
			}
			seen[r.ID] = true
			rows = append(rows, r)
		}
	}
	cats, err := taxonomyIDs(ctx)
	if err != nil {
		return "", err
	}
	examples := make([]classify.Example, len(rows))
	bySource := map[string][]int{}
	for i, r := range rows {
		examples[i] = r.Example()
		bySource[r.Source] = append(bySource[r.Source], i)
	}
	sources := keys(bySource)
	start := time.Now()
	prep := classify.Prepare(examples)
	lex, err := policy.New(ctx, policy.Options{Dir: policyDir, NoModel: true})
	if err != nil {
		return "", err
	}
	det, err := detect.Compile(lex.Files()["aup/lexicon.json"])
	if err != nil {
		return "", err
	}
	out := make([]outcome, len(rows))
	subj := policy.Subject{App: "aupeval", EndUser: "eval", Standing: "active", Endpoint: "chat"}
	for _, s := range sources {
		m, err := prep.Train(classify.TrainOptions{Seed: seed, Categories: cats}, map[string]bool{s: true})
		if err != nil {
			return "", err
		}
		e, err := policy.New(ctx, policy.Options{Dir: policyDir, Model: m})
		if err != nil {
			return "", err
		}
		for _, i := range bySource[s] {
			texts := policy.EndUserTexts(rows[i].Text)
			d, err := e.CheckRequest(ctx, subj, texts)
			if err != nil {
				return "", err
			}
			dl, err := lex.CheckRequest(ctx, subj, texts)
			if err != nil {
				return "", err
			}
			score := m.Score([]string{rows[i].Text}).Harmful
			sig := det.Scan([]string{rows[i].Text})
			sig.Model = &detect.ModelScores{Harmful: math.Round(score*100) / 100}
			out[i] = outcome{row: rows[i], combined: d.Violation(), lexicon: dl.Violation(), score: score, unsure: policy.Unsure(sig, policy.DefaultCascadeBand)}
		}
		fmt.Fprintf(stderr, "aupeval: fold %-24s %5d rows  %s\n", s, len(bySource[s]), time.Since(start).Round(time.Second))
	}
	return losoMarkdown(out, files, described, seed), nil
}

func taxonomyIDs(ctx context.Context) ([]string, error) {
	e, err := policy.New(ctx, policy.Options{Dir: policyDir, NoModel: true})
	if err != nil {
		return nil, err
	}
	var data struct {
		Categories map[string]json.RawMessage `json:"categories"`
	}
	if err := json.Unmarshal(e.Files()["aup/data.json"], &data); err != nil {
		return nil, fmt.Errorf("aup/data.json: %w", err)
	}
	ids := keys(data.Categories)
	if len(ids) == 0 {
		return nil, fmt.Errorf("aup/data.json: no categories")
	}
	return ids, nil
}

type count struct{ n, caughtC, caughtL, unsure int }

func (c *count) add(o outcome) {
	c.n++
	if o.unsure {
		c.unsure++
	}
	if o.combined {
		c.caughtC++
	}
	if o.lexicon {
		c.caughtL++
	}
}

func frac(a, n int) string {
	if n == 0 {
		return "–"
	}
	return fmt.Sprintf("%.3f", float64(a)/float64(n))
}

func losoMarkdown(out []outcome, files, described []string, seed uint64) string {
	var b strings.Builder
	cmd := "go run ./cmd/aupeval --loso"
	for _, f := range files {
		cmd += " --corpus " + f
	}
	fmt.Fprintf(&b, "Command: `%s --out docs/detection.md` (corpus: %s; seed %d)  \nDate: %s\n\n",
		cmd, strings.Join(described, ", "), seed, time.Now().UTC().Format("2006-01-02"))
	b.WriteString("Every row is decided by a model trained **without its source**. *Shipped* is the bundled decision " +
		"(lexicon confirmed by the learned tier, plus the learned tier alone above its thresholds, `settings.model`); " +
		"*lexicon* is the lexicon alone (no learned tier). Caught = flag or block; for benign slices the figure is the " +
		"false-positive rate.\n\n")
	slicesC := map[string]*count{}
	for _, o := range out {
		s := sliceOf(o.row)
		if slicesC[s] == nil {
			slicesC[s] = &count{}
		}
		slicesC[s].add(o)
	}
	fmt.Fprintf(&b, "| slice | rows | shipped | lexicon | cascade: asked |\n|---|---:|---:|---:|---:|\n")
	for _, s := range sliceOrder {
		if c := slicesC[s]; c != nil {
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %s |\n", s, c.n, frac(c.caughtC, c.n), frac(c.caughtL, c.n), frac(c.unsure, c.n))
		}
	}
	fmt.Fprintf(&b, "\n*Cascade: asked* is the share of rows that `policy.classifier.mode: cascade` would send to the guard model "+
		"with the default band [%.2f, %.2f) (`policy.Unsure`): the guard model's cost and latency fall on that share only.\n",
		policy.DefaultCascadeBand[0], policy.DefaultCascadeBand[1])

	// The learned tier alone, at the thresholds that keep ordinary traffic
	// at a given false-positive rate.
	var ordinary []float64
	for _, o := range out {
		if sliceOf(o.row) == "benign, ordinary app traffic" {
			ordinary = append(ordinary, o.score)
		}
	}
	slices.Sort(ordinary)
	b.WriteString("\nThe learned tier alone: recall at the score threshold that flags a given share of ordinary benign traffic " +
		"(held-out scores, so the thresholds are what a new source would see):\n\n| ordinary FP rate | threshold | direct | jailbreak | not English | risky-looking FP |\n|---:|---:|---:|---:|---:|---:|\n")
	for _, fpr := range []float64{0.005, 0.01, 0.02, 0.05} {
		if len(ordinary) == 0 {
			break
		}
		k := int(math.Ceil(float64(len(ordinary)) * (1 - fpr)))
		k = min(max(k, 0), len(ordinary)-1)
		t := ordinary[k]
		hit := map[string]*count{}
		for _, o := range out {
			s := sliceOf(o.row)
			if hit[s] == nil {
				hit[s] = &count{}
			}
			hit[s].n++
			if o.score > t {
				hit[s].caughtC++
			}
		}
		get := func(s string) string {
			if c := hit[s]; c != nil {
				return frac(c.caughtC, c.n)
			}
			return "–"
		}
		fmt.Fprintf(&b, "| %.1f %% | %.3f | %s | %s | %s | %s |\n", fpr*100, t, get(sliceOrder[0]), get(sliceOrder[1]), get(sliceOrder[2]), get(sliceOrder[4]))
	}

	// Per source.
	bySrc := map[string]map[bool]*count{}
	for _, o := range out {
		if bySrc[o.row.Source] == nil {
			bySrc[o.row.Source] = map[bool]*count{true: {}, false: {}}
		}
		bySrc[o.row.Source][o.row.Harmful()].add(o)
	}
	b.WriteString("\nPer held-out source (recall on its harmful rows, FP rate on its benign rows):\n\n" +
		"| source | harmful | recall shipped | recall lexicon | benign | FPR shipped | FPR lexicon |\n|---|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range keys(bySrc) {
		h, g := bySrc[s][true], bySrc[s][false]
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %d | %s | %s |\n", s, h.n, frac(h.caughtC, h.n), frac(h.caughtL, h.n), g.n, frac(g.caughtC, g.n), frac(g.caughtL, g.n))
	}

	// Per language and per category (harmful rows).
	byLang, byCat := map[string]*count{}, map[string]*count{}
	for _, o := range out {
		if !o.row.Harmful() {
			continue
		}
		l := o.row.Lang
		if l == "" {
			l = "en"
		}
		if byLang[l] == nil {
			byLang[l] = &count{}
		}
		byLang[l].add(o)
		c := "(none)"
		if o.row.Category != nil {
			c = *o.row.Category
		}
		if byCat[c] == nil {
			byCat[c] = &count{}
		}
		byCat[c].add(o)
	}
	b.WriteString("\nRecall per language (harmful rows):\n\n| lang | rows | shipped | lexicon |\n|---|---:|---:|---:|\n")
	for _, l := range keys(byLang) {
		c := byLang[l]
		fmt.Fprintf(&b, "| %s | %d | %s | %s |\n", l, c.n, frac(c.caughtC, c.n), frac(c.caughtL, c.n))
	}
	b.WriteString("\nRecall per category (harmful rows, the corpus's category):\n\n| category | rows | shipped | lexicon |\n|---|---:|---:|---:|\n")
	for _, k := range keys(byCat) {
		c := byCat[k]
		fmt.Fprintf(&b, "| %s | %d | %s | %s |\n", k, c.n, frac(c.caughtC, c.n), frac(c.caughtL, c.n))
	}

	// Calibration of the held-out harm probability.
	b.WriteString("\nCalibration of the learned tier's held-out harm probability (rows are weighted alike; the corpus is " +
		"about 37 % harmful, ordinary traffic far less):\n\n| score | rows | harmful share |\n|---|---:|---:|\n")
	var bins [10]struct{ n, h int }
	for _, o := range out {
		k := min(int(o.score*10), 9)
		bins[k].n++
		if o.row.Harmful() {
			bins[k].h++
		}
	}
	for k, bn := range bins {
		fmt.Fprintf(&b, "| %.1f–%.1f | %d | %s |\n", float64(k)/10, float64(k+1)/10, bn.n, frac(bn.h, bn.n))
	}
	return b.String()
}

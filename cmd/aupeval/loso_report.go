package main

import (
	"fmt"
	"github.com/aupguard/aupguard/internal/policy"
	"math"
	"slices"
	"strings"
	"time"
)

// The markdown report of the leave-one-source-out run.

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

func losoMarkdown(out []outcome, sweep []*sweepPoint, files, described []string, seed uint64) string {
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
		"false-positive rate. An operator's system prompt is decided as the gateway decides it, as the operator's text: " +
		"it never makes an end user's record, and counts here when the policy records it against the app.\n\n")
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
	// Benign slices split by language: a pooled rate can hide that one
	// language's users are flagged far more often than another's.
	b.WriteString("\nFalse positives of the benign slices by language (English rows, and rows in every other language):\n\n" +
		"| slice | English rows | shipped | other rows | shipped |\n|---|---:|---:|---:|---:|\n")
	for _, s := range sliceOrder[3:5] {
		var en, other count
		for _, o := range out {
			if sliceOf(o.row) != s {
				continue
			}
			if isEnglish(o.row) {
				en.add(o)
			} else {
				other.add(o)
			}
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %d | %s |\n", s, en.n, frac(en.caughtC, en.n), other.n, frac(other.caughtC, other.n))
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

	b.WriteString(headsMarkdown(out))
	b.WriteString(sweepMarkdown(out, sweep))

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

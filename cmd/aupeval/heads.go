package main

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/aupguard/aupguard/internal/classify"
)

// headsMarkdown compares the learned tier's two heads on held-out rows,
// alone and stacked, and fits the stack on their held-out logits: the
// figures behind classify.DefaultStack.
func headsMarkdown(out []outcome) string {
	b := &strings.Builder{}
	// The heads alone and the stack fitted on their held-out logits.
	st := fitStack(out)
	fmt.Fprintf(b, "\nThe two heads of the learned tier (`internal/classify`: hashed n-grams, and the cross-lingual concepts), "+
		"alone and stacked, at the threshold that flags 1 %% of ordinary traffic. The stack fitted on these held-out logits "+
		"(logistic regression, sources weighted by the square root of their size) is a = %.3f, b = %.3f, c = %.3f; "+
		"the shipped `classify.DefaultStack` is %.3f, %.3f, %.3f.\n\n| head | direct | jailbreak | not English | risky-looking FP |\n|---|---:|---:|---:|---:|\n",
		st[0], st[1], st[2], classify.DefaultStack[0], classify.DefaultStack[1], classify.DefaultStack[2])
	for _, h := range []struct {
		name    string
		a, b, c float64
	}{{"n-grams", 1, 0, 0}, {"concepts", 0, 1, 0}, {"stacked (shipped)", classify.DefaultStack[0], classify.DefaultStack[1], classify.DefaultStack[2]}} {
		z := make([]float64, len(out))
		var ord []float64
		for i, o := range out {
			z[i] = h.a*o.zn + h.b*o.zc + h.c
			if sliceOf(o.row) == "benign, ordinary app traffic" {
				ord = append(ord, z[i])
			}
		}
		if len(ord) == 0 {
			break
		}
		slices.Sort(ord)
		t := ord[min(int(math.Ceil(float64(len(ord))*0.99)), len(ord)-1)]
		hit := map[string]*count{}
		for i, o := range out {
			s := sliceOf(o.row)
			if hit[s] == nil {
				hit[s] = &count{}
			}
			hit[s].n++
			if z[i] > t {
				hit[s].caughtC++
			}
		}
		get := func(s string) string {
			if c := hit[s]; c != nil {
				return frac(c.caughtC, c.n)
			}
			return "–"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", h.name, get(sliceOrder[0]), get(sliceOrder[1]), get(sliceOrder[2]), get(sliceOrder[4]))
	}

	return b.String()
}

// fitStack fits a·n-gram + b·concept + c to the labels by logistic
// regression on held-out logits, each source weighing the square root of
// its size (as in training), by plain gradient descent: three parameters.
func fitStack(out []outcome) [3]float64 {
	n := map[string]float64{}
	for _, o := range out {
		n[o.row.Source]++
	}
	st := [3]float64{0.5, 0.5, 0}
	for range 500 {
		var g [3]float64
		var total float64
		for _, o := range out {
			y := 0.0
			if o.row.Harmful() {
				y = 1
			}
			w := 1 / math.Sqrt(n[o.row.Source])
			d := (1/(1+math.Exp(-(st[0]*o.zn+st[1]*o.zc+st[2]))) - y) * w
			g[0] += d * o.zn
			g[1] += d * o.zc
			g[2] += d
			total += w
		}
		for k := range st {
			st[k] -= 0.5 * g[k] / total
		}
	}
	return st
}

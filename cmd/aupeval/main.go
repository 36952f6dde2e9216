// Command aupeval measures detection quality on a labelled JSONL set
// (testdata/eval/dev.jsonl by default, vendored): recall on harmful prompts and the
// false-positive rate on benign ones, overall, per source and per category,
// and writes the results into docs/detection.md between marker comments.
// With --loso it evaluates the learned tier leave-one-source-out on a
// training corpus instead (loso.go).
//
// A prompt counts as caught when the decision is a violation (flag or
// block). Prompt texts are never written to the report, only ids.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/aupguard/aupguard/internal/detect"
)

type item struct {
	ID       string  `json:"id"`
	Source   string  `json:"source"`
	Text     string  `json:"text"`
	Label    string  `json:"label"`
	Category *string `json:"category"`
}

// decider is the decision under test: the policy engine when it is
// available, else the stand-in below.
type decider interface {
	Name() string
	Decide(ctx context.Context, text string) (caught bool, categories []string, err error)
}

// standIn flags a prompt when any category scores at least the flag
// threshold. It mirrors the default thresholds of policies/aup/data.json
// closely enough to tune detection before the engine runs.
type standIn struct {
	d         *detect.Detector
	threshold float64
}

func (s standIn) Name() string {
	return fmt.Sprintf("stand-in (detect.Scan, caught when any category score >= %.2f)", s.threshold)
}

func (s standIn) Decide(_ context.Context, text string) (bool, []string, error) {
	sig := s.d.Scan([]string{text})
	var cats []string
	for c, cs := range sig.Categories {
		if cs.Score >= s.threshold {
			cats = append(cats, c)
		}
	}
	sort.Strings(cats)
	return len(cats) > 0, cats, nil
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("aupeval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", "testdata/eval/dev.jsonl", "labelled JSONL: id, source, text, label (harmful|benign), category")
	out := fs.String("out", "", "markdown file to update between the aupeval markers (e.g. docs/detection.md); empty: print only")
	lexPath := fs.String("lexicon", "policies/aup/lexicon.json", "lexicon for the stand-in decision")
	engine := fs.String("engine", "auto", "auto: the policy engine, falling back to the stand-in if it fails to load; standin: always the stand-in")
	threshold := fs.Float64("threshold", 0.5, "stand-in: category score that counts as caught")
	misses := fs.Bool("misses", false, "print ids (and texts, to the terminal only) of misses and false positives")
	fs.StringVar(&policyDir, "policies", "", "policy directory for the engine (default: the embedded bundle)")
	loso := fs.Bool("loso", false, "leave-one-source-out: train the learned tier without each source of --corpus and decide that source's rows")
	var corpora multiFlag
	fs.Var(&corpora, "corpus", "with --loso or --audit-concepts: labelled corpus (.jsonl or .jsonl.gz; repeatable; default testdata/corpus/train-permissive.jsonl.gz)")
	seed := fs.Uint64("seed", 1, "with --loso: training seed")
	audit := fs.String("audit-concepts", "", "LANG: list the forms of internal/classify/concepts/LANG.txt that match the most benign rows of --corpus in that language")
	rowsOut := fs.String("rows", "", "with --loso: write every row's held-out outcome (id, source, slice, scores, decisions; no text) as JSON lines to this file, for analysis")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "aupeval: unexpected arguments:", fs.Args())
		return 2
	}
	if *audit != "" {
		if len(corpora) == 0 {
			corpora = multiFlag{"testdata/corpus/train-permissive.jsonl.gz"}
		}
		if err := auditConcepts(*audit, corpora, 60, stdout); err != nil {
			fmt.Fprintln(stderr, "aupeval:", err)
			return 1
		}
		return 0
	}
	if *loso {
		if len(corpora) == 0 {
			corpora = multiFlag{"testdata/corpus/train-permissive.jsonl.gz"}
		}
		report, err := runLOSO(context.Background(), corpora, *seed, *rowsOut, stdout, stderr)
		if err != nil {
			fmt.Fprintln(stderr, "aupeval:", err)
			return 1
		}
		fmt.Fprint(stdout, report)
		if *out != "" {
			if err := spliceBetween(*out, report, losoBegin, losoEnd, "Leave-one-source-out results"); err != nil {
				fmt.Fprintln(stderr, "aupeval:", err)
				return 1
			}
		}
		return 0
	}
	items, err := load(*data)
	if err != nil {
		fmt.Fprintln(stderr, "aupeval:", err)
		return 1
	}
	ctx := context.Background()
	var dec decider
	if *engine == "auto" {
		if e, err := newEngine(ctx); err == nil {
			dec = e
		} else {
			fmt.Fprintln(stderr, "aupeval: policy engine unavailable, using the stand-in:", err)
		}
	}
	if dec == nil {
		lex, err := os.ReadFile(*lexPath)
		if err != nil {
			fmt.Fprintln(stderr, "aupeval:", err)
			return 1
		}
		d, err := detect.Compile(lex)
		if err != nil {
			fmt.Fprintln(stderr, "aupeval:", err)
			return 1
		}
		dec = standIn{d: d, threshold: *threshold}
	}
	res, err := evaluate(ctx, dec, items)
	if err != nil {
		fmt.Fprintln(stderr, "aupeval:", err)
		return 1
	}
	cmd := "go run ./cmd/aupeval --data " + *data
	if *engine != "auto" {
		cmd += " --engine " + *engine
	}
	if *out != "" {
		cmd += " --out " + *out
	}
	report := res.markdown(dec.Name(), cmd, *data)
	fmt.Fprint(stdout, report)
	if *misses {
		for _, m := range res.missed {
			fmt.Fprintf(stdout, "MISS %s\t%s\n", m.ID, m.Text)
		}
		for _, m := range res.falsePos {
			fmt.Fprintf(stdout, "FP   %s\t%s\t%s\n", m.it.ID, strings.Join(m.cats, ","), m.it.Text)
		}
	}
	if *out != "" {
		if err := splice(*out, report); err != nil {
			fmt.Fprintln(stderr, "aupeval:", err)
			return 1
		}
	}
	return 0
}

func load(path string) ([]item, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var items []item
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var it item
		if err := json.Unmarshal([]byte(line), &it); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		if it.Label != "harmful" && it.Label != "benign" {
			return nil, fmt.Errorf("%s:%d: label %q is neither harmful nor benign", path, n, it.Label)
		}
		items = append(items, it)
	}
	return items, sc.Err()
}

// tally counts one group: harmful caught of harmful, benign caught of benign.
type tally struct{ harm, harmCaught, benign, benignCaught int }

func (t *tally) add(harmful, caught bool) {
	if harmful {
		t.harm++
		if caught {
			t.harmCaught++
		}
	} else {
		t.benign++
		if caught {
			t.benignCaught++
		}
	}
}

func ratio(a, b int) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.3f", float64(a)/float64(b))
}

type falsePos struct {
	it   item
	cats []string
}

type results struct {
	all       tally
	bySource  map[string]*tally
	byCat     map[string]*tally // source category (xstest types)
	byFlagged map[string]int    // our category → caught prompts (harmful / benign)
	byFlagFP  map[string]int
	missed    []item
	falsePos  []falsePos
}

func evaluate(ctx context.Context, dec decider, items []item) (*results, error) {
	r := &results{bySource: map[string]*tally{}, byCat: map[string]*tally{}, byFlagged: map[string]int{}, byFlagFP: map[string]int{}}
	for _, it := range items {
		caught, cats, err := dec.Decide(ctx, it.Text)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", it.ID, err)
		}
		harmful := it.Label == "harmful"
		r.all.add(harmful, caught)
		if r.bySource[it.Source] == nil {
			r.bySource[it.Source] = &tally{}
		}
		r.bySource[it.Source].add(harmful, caught)
		cat := it.Source + ":" + "(none)"
		if it.Category != nil {
			cat = it.Source + ":" + *it.Category
		}
		if r.byCat[cat] == nil {
			r.byCat[cat] = &tally{}
		}
		r.byCat[cat].add(harmful, caught)
		for _, c := range cats {
			if harmful {
				r.byFlagged[c]++
			} else {
				r.byFlagFP[c]++
			}
		}
		switch {
		case harmful && !caught:
			r.missed = append(r.missed, it)
		case !harmful && caught:
			r.falsePos = append(r.falsePos, falsePos{it, cats})
		}
	}
	return r, nil
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/aupguard/aupguard/internal/classify"
	"github.com/aupguard/aupguard/internal/classify/corpus"
	"github.com/aupguard/aupguard/internal/detect"
	"github.com/aupguard/aupguard/internal/policy"
	"github.com/aupguard/aupguard/internal/wire"
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

// isEnglish: the corpus's language is English (or not given).
func isEnglish(r corpus.Row) bool { return r.Lang == "" || r.Lang == "en" }

func sliceOf(r corpus.Row) string {
	switch {
	case r.Harmful() && jailbreakSources[r.Source]:
		return "harmful, jailbreak or injection"
	case r.Harmful() && !isEnglish(r):
		return "harmful, not in English"
	case r.Harmful():
		return "harmful, direct (English)"
	case r.Role == "system":
		return sliceOperator
	case ordinarySources[r.Source]:
		return "benign, ordinary app traffic"
	case riskySources[r.Source]:
		return "benign, risky-looking"
	}
	return "benign, other"
}

var sliceOrder = []string{
	"harmful, direct (English)", "harmful, jailbreak or injection", "harmful, not in English",
	"benign, ordinary app traffic", "benign, risky-looking", sliceOperator, "benign, other",
}

// An operator's system prompt is decided as the gateway decides it: as the
// operator's text, which never makes an end user's record; it counts when
// the policy records it against the app (decision.operator).
const sliceOperator = "benign, operator's system prompt"

// textsOf is a row as the gateway would see it: the end user's words, or
// the operator's system prompt.
func textsOf(r corpus.Row) []wire.Text {
	if r.Role == "system" {
		return []wire.Text{{Text: r.Text, Role: wire.RoleSystem, Author: wire.AuthorOperator, New: true}}
	}
	return policy.EndUserTexts(r.Text)
}

// recorded: the decision makes a record, against the end user or the app.
func recorded(d policy.Decision) bool { return d.Violation() || d.Operator.Violation() }

// outcome is one row's result in its held-out fold.
type outcome struct {
	row      corpus.Row
	combined bool    // the shipped decision (lexicon + fold model) flags or blocks
	lexicon  bool    // the lexicon alone flags or blocks
	score    float64 // the fold model's harm probability
	zn, zc   float64 // its n-gram and concept heads' logits (classify.Model.Heads)
	unsure   bool    // cascade mode would ask the guard model (policy.Unsure, default band)
	lexSev   string  // the lexicon-alone decision's severity ("" when it allows)
}

func runLOSO(ctx context.Context, files []string, seed uint64, rowsOut string, stdout, stderr io.Writer) (string, error) {
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
	sweep, cleanup, err := sweepBundles(lex.Files(), len(rows))
	if err != nil {
		return "", err
	}
	defer cleanup()
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
		var engines []*policy.Engine
		for _, p := range sweep {
			ep, err := policy.New(ctx, policy.Options{Dir: p.dir, Model: m})
			if err != nil {
				return "", err
			}
			engines = append(engines, ep)
		}
		for _, i := range bySource[s] {
			texts := textsOf(rows[i])
			for k, ep := range engines {
				d, err := ep.CheckRequest(ctx, subj, texts)
				if err != nil {
					return "", err
				}
				sweep[k].caught[i] = recorded(d)
			}
			d, err := e.CheckRequest(ctx, subj, texts)
			if err != nil {
				return "", err
			}
			dl, err := lex.CheckRequest(ctx, subj, texts)
			if err != nil {
				return "", err
			}
			score := m.Score([]string{rows[i].Text}).Harmful
			zn, zc := m.Heads([]string{rows[i].Text})
			sig := det.Scan([]string{rows[i].Text})
			sig.Model = &detect.ModelScores{Harmful: math.Round(score*100) / 100}
			out[i] = outcome{row: rows[i], combined: recorded(d), lexicon: recorded(dl), score: score, zn: zn, zc: zc, unsure: policy.Unsure(sig, policy.DefaultCascadeBand)}
			if recorded(dl) {
				out[i].lexSev = dl.Severity
				if dl.Severity == "" {
					out[i].lexSev = dl.Operator.Severity
				}
			}
		}
		fmt.Fprintf(stderr, "aupeval: fold %-24s %5d rows  %s\n", s, len(bySource[s]), time.Since(start).Round(time.Second))
	}
	if rowsOut != "" {
		if err := writeOutcomes(rowsOut, out); err != nil {
			return "", err
		}
	}
	return losoMarkdown(out, sweep, files, described, seed), nil
}

// writeOutcomes writes one JSON line per row: what its held-out fold
// decided and scored, without the text (join on id with the corpus).
func writeOutcomes(path string, out []outcome) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, o := range out {
		r := o.row
		if err := enc.Encode(map[string]any{
			"id": r.ID, "source": r.Source, "lang": r.Lang, "role": r.Role, "harmful": r.Harmful(), "category": r.Category,
			"slice": sliceOf(r), "score": o.score, "zn": o.zn, "zc": o.zc,
			"shipped": o.combined, "lexicon": o.lexicon, "lex_severity": o.lexSev, "unsure": o.unsure,
		}); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
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

// Command auptrain trains the learned detection tier (internal/classify)
// on labelled prompt corpora and writes the model file into the policy
// bundle, where its hash becomes part of policy_hash:
//
//	go run ./cmd/auptrain                                   # the corpus vendored in testdata/
//	go run ./cmd/auptrain --corpus testdata/corpus/train-permissive.jsonl.gz --corpus mine.jsonl
//
// Training is deterministic for a seed and a corpus: the same inputs give
// the same file, byte for byte.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/aupguard/aupguard/internal/classify"
	"github.com/aupguard/aupguard/internal/classify/corpus"
)

type multi []string

func (m *multi) String() string     { return fmt.Sprint(*m) }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("auptrain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files, exclude multi
	fs.Var(&files, "corpus", "labelled JSONL corpus (.jsonl or .jsonl.gz; repeatable; default testdata/corpus/train-permissive.jsonl.gz)")
	fs.Var(&exclude, "exclude-source", "leave this source's rows out (repeatable)")
	policies := fs.String("policies", "policies", "policy directory: categories come from aup/data.json, the model goes to aup/"+classify.FileName)
	out := fs.String("out", "", "model file to write (default POLICIES/aup/"+classify.FileName+")")
	seed := fs.Uint64("seed", 1, "training seed")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "auptrain: unexpected arguments:", fs.Args())
		return 2
	}
	if len(files) == 0 {
		files = multi{"testdata/corpus/train-permissive.jsonl.gz"}
	}
	if *out == "" {
		*out = filepath.Join(*policies, "aup", classify.FileName)
	}
	cats, err := categories(filepath.Join(*policies, "aup", "data.json"))
	if err != nil {
		fmt.Fprintln(stderr, "auptrain:", err)
		return 1
	}
	skip := map[string]bool{}
	for _, s := range exclude {
		skip[s] = true
	}
	var examples []classify.Example
	var described []classify.CorpusFile
	seen := map[string]bool{}
	for _, f := range files {
		rows, desc, err := corpus.Read(f)
		if err != nil {
			fmt.Fprintln(stderr, "auptrain:", err)
			return 1
		}
		described = append(described, desc)
		for _, r := range rows {
			if skip[r.Source] || seen[r.ID] && r.ID != "" {
				continue // a row given twice (a corpus and its vendored subset) counts once
			}
			seen[r.ID] = true
			examples = append(examples, r.Example())
		}
	}
	start := time.Now()
	m, err := classify.Prepare(examples).Train(classify.TrainOptions{Seed: *seed, Categories: cats}, nil)
	if err != nil {
		fmt.Fprintln(stderr, "auptrain:", err)
		return 1
	}
	m.SetTraining(described)
	b, err := m.MarshalBinary()
	if err != nil {
		fmt.Fprintln(stderr, "auptrain:", err)
		return 1
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		fmt.Fprintln(stderr, "auptrain:", err)
		return 1
	}
	h := m.Header()
	fmt.Fprintf(stdout, "auptrain: %d rows from %d sources, %d categories, trained in %s; wrote %s (%d bytes)\n",
		len(examples), len(h.Training.Sources), len(cats), time.Since(start).Round(time.Millisecond), *out, len(b))
	return 0
}

// categories are the taxonomy's ids, sorted: the category head's classes.
func categories(dataJSON string) ([]string, error) {
	b, err := os.ReadFile(dataJSON)
	if err != nil {
		return nil, err
	}
	var data struct {
		Categories map[string]json.RawMessage `json:"categories"`
	}
	if err := json.Unmarshal(b, &data); err != nil {
		return nil, fmt.Errorf("%s: %w", dataJSON, err)
	}
	var ids []string
	for id := range data.Categories {
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%s: no categories", dataJSON)
	}
	sort.Strings(ids)
	return ids, nil
}

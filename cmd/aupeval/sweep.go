package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The operating points of the learned tier (data.aup.settings.model: the
// score from which the model alone flags, and the score a lexicon hit
// needs to count) are chosen on held-out rows: every row of a fold is
// decided once per point of a small grid, each a copy of the bundle with
// other settings, so the table shows what each choice costs on sources
// the model never saw.

// sweepGrid: flag thresholds (2: the model alone never flags) by confirm
// thresholds.
var (
	sweepFlags    = []float64{0.80, 0.86, 0.90, 0.93, 0.96, 2}
	sweepConfirms = []float64{0.1, 0.25, 0.4, 0.55}
)

type sweepPoint struct {
	flag, confirm float64
	dir           string
	caught        []bool // per row of the corpus
}

// sweepBundles writes a copy of the bundle's files per grid point.
func sweepBundles(files map[string][]byte, rows int) ([]*sweepPoint, func(), error) {
	root, err := os.MkdirTemp("", "aupeval-sweep-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { os.RemoveAll(root) }
	var pts []*sweepPoint
	for _, f := range sweepFlags {
		for _, c := range sweepConfirms {
			p := &sweepPoint{flag: f, confirm: c, dir: filepath.Join(root, fmt.Sprintf("f%.2f-c%.2f", f, c)), caught: make([]bool, rows)}
			for name, b := range files {
				if name == "aup/data.json" {
					var d map[string]any
					if err := json.Unmarshal(b, &d); err != nil {
						cleanup()
						return nil, nil, err
					}
					settings, _ := d["settings"].(map[string]any)
					if settings == nil {
						cleanup()
						return nil, nil, fmt.Errorf("aup/data.json has no settings")
					}
					settings["model"] = map[string]any{"flag": f, "block": min(2, f+(1-f)/2), "confirm": c}
					if b, err = json.Marshal(d); err != nil {
						cleanup()
						return nil, nil, err
					}
				}
				path := filepath.Join(p.dir, filepath.FromSlash(name))
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					cleanup()
					return nil, nil, err
				}
				if err := os.WriteFile(path, b, 0o644); err != nil {
					cleanup()
					return nil, nil, err
				}
			}
			pts = append(pts, p)
		}
	}
	return pts, cleanup, nil
}

func sweepMarkdown(out []outcome, pts []*sweepPoint) string {
	if len(pts) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\nOperating points (`data.aup.settings.model`), every row decided by the whole policy with a model trained " +
		"without its source: *flag* is the score from which the learned tier alone flags (`off`: never), *confirm* the score " +
		"a non-critical lexicon hit needs to count.\n\n| flag | confirm | direct | jailbreak | not English | ordinary FP | risky-looking FP | system prompts recorded |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, p := range pts {
		hit := map[string][2]int{}
		for i, o := range out {
			s := sliceOf(o.row)
			v := hit[s]
			v[1]++
			if p.caught[i] {
				v[0]++
			}
			hit[s] = v
		}
		get := func(s string) string { return frac(hit[s][0], hit[s][1]) }
		flag := fmt.Sprintf("%.2f", p.flag)
		if p.flag > 1 {
			flag = "off"
		}
		fmt.Fprintf(&b, "| %s | %.2f | %s | %s | %s | %s | %s | %s |\n", flag, p.confirm,
			get(sliceOrder[0]), get(sliceOrder[1]), get(sliceOrder[2]), get(sliceOrder[3]), get(sliceOrder[4]), get(sliceOperator))
	}
	return b.String()
}

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aupguard/aupguard/internal/classify/corpus"
)

// The operating points of the learned tier (data.aup.settings.model: the
// score from which the model alone flags, and the score a lexicon hit
// needs to count) are chosen on held-out rows: every row of a fold is
// decided once per point of a small grid, each a copy of the bundle with
// other settings, so the table shows what each choice costs on sources
// the model never saw.

// sweepGrid: flag thresholds (2: the model alone never flags) by confirm
// thresholds, then lower thresholds for text that is not English
// (settings.model.flag_other_language) at a few of those points.
var (
	sweepFlags    = []float64{0.86, 0.90, 0.93, 0.96, 2}
	sweepConfirms = []float64{0.1, 0.25, 0.4}
	sweepOther    = []sweepSetting{
		{0.96, 0.25, 0.7}, {0.96, 0.25, 0.8}, {0.96, 0.25, 0.85}, {0.96, 0.25, 0.86}, {0.96, 0.25, 0.88},
		{0.96, 0.25, 0.9}, {0.96, 0.25, 0.93},
	}
)

type sweepSetting struct{ flag, confirm, other float64 } // other 0: not set

func sweepGrid() []sweepSetting {
	var g []sweepSetting
	for _, f := range sweepFlags {
		for _, c := range sweepConfirms {
			g = append(g, sweepSetting{f, c, 0})
		}
	}
	return append(g, sweepOther...)
}

type sweepPoint struct {
	sweepSetting
	dir    string
	caught []bool // per row of the corpus
}

// sweepBundles writes a copy of the bundle's files per grid point.
func sweepBundles(files map[string][]byte, rows int) ([]*sweepPoint, func(), error) {
	root, err := os.MkdirTemp("", "aupeval-sweep-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { os.RemoveAll(root) }
	var pts []*sweepPoint
	for _, g := range sweepGrid() {
		p := &sweepPoint{sweepSetting: g, dir: filepath.Join(root, fmt.Sprintf("f%.2f-c%.2f-o%.2f", g.flag, g.confirm, g.other)), caught: make([]bool, rows)}
		if err := writeBundle(p.dir, files, g); err != nil {
			cleanup()
			return nil, nil, err
		}
		pts = append(pts, p)
	}
	return pts, cleanup, nil
}

// writeBundle writes the bundle's files into dir with settings.model set to g.
func writeBundle(dir string, files map[string][]byte, g sweepSetting) error {
	for name, b := range files {
		if name == "aup/data.json" {
			var d map[string]any
			if err := json.Unmarshal(b, &d); err != nil {
				return err
			}
			settings, _ := d["settings"].(map[string]any)
			if settings == nil {
				return fmt.Errorf("aup/data.json has no settings")
			}
			m := map[string]any{"flag": g.flag, "block": min(2, g.flag+(1-g.flag)/2), "confirm": g.confirm}
			if g.other > 0 {
				m["flag_other_language"] = g.other
			}
			settings["model"] = m
			var err error
			if b, err = json.Marshal(d); err != nil {
				return err
			}
		}
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Suffixes of sweepMarkdown's count keys: English rows and the rest.
const (
	keyEnglish = "\x00en"
	keyOther   = "\x00other"
)

func langKey(r corpus.Row) string {
	if isEnglish(r) {
		return keyEnglish
	}
	return keyOther
}

func sweepMarkdown(out []outcome, pts []*sweepPoint) string {
	if len(pts) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\nOperating points (`data.aup.settings.model`), every row decided by the whole policy with a model trained " +
		"without its source: *flag* is the score from which the learned tier alone flags (`off`: never), *confirm* the score " +
		"a non-critical lexicon hit needs to count, *other* the flag threshold for text that is not English (`flag_other_language`; " +
		"`–`: as *flag*). The false-positive columns give the English rows' rate and the other languages' rate.\n\n" +
		"| flag | confirm | other | direct | jailbreak | not English | ordinary FP | ordinary FP en / other | risky-looking FP | risky FP en / other | system prompts recorded |\n" +
		"|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, p := range pts {
		hit := map[string][2]int{}
		for i, o := range out {
			s := sliceOf(o.row)
			for _, k := range []string{s, s + langKey(o.row)} {
				v := hit[k]
				v[1]++
				if p.caught[i] {
					v[0]++
				}
				hit[k] = v
			}
		}
		get := func(s string) string { return frac(hit[s][0], hit[s][1]) }
		split := func(s string) string {
			return get(s+keyEnglish) + " / " + get(s+keyOther)
		}
		flag := fmt.Sprintf("%.2f", p.flag)
		if p.flag > 1 {
			flag = "off"
		}
		other := "–"
		if p.other > 0 {
			other = fmt.Sprintf("%.2f", p.other)
		}
		fmt.Fprintf(&b, "| %s | %.2f | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", flag, p.confirm, other,
			get(sliceOrder[0]), get(sliceOrder[1]), get(sliceOrder[2]), get(sliceOrder[3]), split(sliceOrder[3]),
			get(sliceOrder[4]), split(sliceOrder[4]), get(sliceOperator))
	}
	return b.String()
}

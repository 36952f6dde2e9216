package main

import (
	"fmt"
	"os"
	"strings"
	"time"
)

func (r *results) markdown(decision, cmd, data string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Command: `%s`  \nDate: %s  \nData: `%s` (%d prompts)  \nDecision: %s\n\n",
		cmd, time.Now().UTC().Format("2006-01-02 15:04 MST"), data, r.all.harm+r.all.benign, decision)
	fmt.Fprintf(&b, "**Recall on harmful: %s (%d/%d). False-positive rate on benign: %s (%d/%d).**\n\n",
		ratio(r.all.harmCaught, r.all.harm), r.all.harmCaught, r.all.harm,
		ratio(r.all.benignCaught, r.all.benign), r.all.benignCaught, r.all.benign)
	b.WriteString("Confusion table (caught = flag or block):\n\n| | caught | passed |\n|---|---:|---:|\n")
	fmt.Fprintf(&b, "| harmful | %d (TP) | %d (FN) |\n| benign | %d (FP) | %d (TN) |\n\n",
		r.all.harmCaught, r.all.harm-r.all.harmCaught, r.all.benignCaught, r.all.benign-r.all.benignCaught)
	b.WriteString("Per source:\n\n| source | harmful | recall | benign | FPR |\n|---|---:|---:|---:|---:|\n")
	for _, s := range keys(r.bySource) {
		t := r.bySource[s]
		fmt.Fprintf(&b, "| %s | %d | %s | %d | %s |\n", s, t.harm, ratio(t.harmCaught, t.harm), t.benign, ratio(t.benignCaught, t.benign))
	}
	b.WriteString("\nPer source category (XSTest types; `contrast_*` are the harmful twins):\n\n| category | harmful | recall | benign | FPR |\n|---|---:|---:|---:|---:|\n")
	for _, c := range keys(r.byCat) {
		t := r.byCat[c]
		fmt.Fprintf(&b, "| %s | %d | %s | %d | %s |\n", c, t.harm, ratio(t.harmCaught, t.harm), t.benign, ratio(t.benignCaught, t.benign))
	}
	b.WriteString("\nAUP categories assigned (a prompt may get several):\n\n| category | harmful caught | benign caught |\n|---|---:|---:|\n")
	all := map[string]bool{}
	for k := range r.byFlagged {
		all[k] = true
	}
	for k := range r.byFlagFP {
		all[k] = true
	}
	for _, c := range keys(all) {
		fmt.Fprintf(&b, "| %s | %d | %d |\n", c, r.byFlagged[c], r.byFlagFP[c])
	}
	ids := func(its []string) string {
		if len(its) == 0 {
			return "none"
		}
		return strings.Join(its, ", ")
	}
	var fn, fp []string
	for _, m := range r.missed {
		fn = append(fn, m.ID)
	}
	for _, m := range r.falsePos {
		fp = append(fp, m.it.ID)
	}
	fmt.Fprintf(&b, "\nMissed harmful ids: %s\n\nFalse-positive ids: %s\n", ids(fn), ids(fp))
	return b.String()
}

const (
	beginMarker = "<!-- aupeval:begin -->"
	endMarker   = "<!-- aupeval:end -->"
)

const (
	losoBegin = "<!-- aupeval-loso:begin -->"
	losoEnd   = "<!-- aupeval-loso:end -->"
)

// splice replaces the text between the markers in path (appending a
// section when the markers are missing).
func splice(path, report string) error {
	return spliceBetween(path, report, beginMarker, endMarker, "Evaluation results")
}

func spliceBetween(path, report, beginMarker, endMarker, title string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	s := string(old)
	block := beginMarker + "\n" + report + endMarker
	i, j := strings.Index(s, beginMarker), strings.Index(s, endMarker)
	if i >= 0 && j > i {
		s = s[:i] + block + s[j+len(endMarker):]
	} else {
		if s != "" && !strings.HasSuffix(s, "\n") {
			s += "\n"
		}
		s += "\n## " + title + "\n\n" + block + "\n"
	}
	return os.WriteFile(path, []byte(s), 0o644)
}

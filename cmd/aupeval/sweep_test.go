package main

import (
	"strings"
	"testing"

	"github.com/aupguard/aupguard/internal/classify/corpus"
)

// The sweep's false-positive columns split English rows from the rest.
func TestSweepSplitsFalsePositivesByLanguage(t *testing.T) {
	out := []outcome{
		{row: corpus.Row{Source: "gpteacher", Lang: "en", Label: "benign"}},
		{row: corpus.Row{Source: "gpteacher", Lang: "en", Label: "benign"}},
		{row: corpus.Row{Source: "xquad", Lang: "de", Label: "benign"}},
	}
	p := &sweepPoint{sweepSetting: sweepSetting{0.96, 0.25, 0.85}, caught: []bool{true, false, false}}
	md := sweepMarkdown(out, []*sweepPoint{p})
	if !strings.Contains(md, "| 0.96 | 0.25 | 0.85 | – | – | – | 0.333 | 0.500 / 0.000 |") {
		t.Fatalf("sweep table:\n%s", md)
	}
}

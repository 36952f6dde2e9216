package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// writeSection puts md between the markers in path, leaving the rest of
// the file alone; a file without them gets a "Load harness" section
// appended (or is created).
func writeSection(path, md string, sec docSection) error {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	out, err := replaceSection(string(old), md, sec)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, []byte(out), 0o644)
}

// docSection is a part of the benchmarks file the harness owns: the run
// with shared CPUs (the default, judged against the bars) and the run with
// pinned CPUs (--pin, a second table) each have their own, so both can be
// kept. The pinned run keeps the original markers, so files written before
// the shared layout became the bar still update in place.
type docSection struct{ begin, end, heading string }

var (
	sharedSection = docSection{"<!-- aupload:shared:begin -->", "<!-- aupload:shared:end -->", "Load harness"}
	pinnedSection = docSection{markBegin, markEnd, "Load harness, CPUs pinned (not the bar)"}
)

func replaceSection(doc, md string, sec docSection) (string, error) {
	body := sec.begin + "\n" + strings.TrimRight(md, "\n") + "\n" + sec.end
	i, j := strings.Index(doc, sec.begin), strings.Index(doc, sec.end)
	switch {
	case i >= 0 && j > i:
		return doc[:i] + body + doc[j+len(sec.end):], nil
	case i >= 0 || j >= 0:
		return "", fmt.Errorf("has only one of the markers %s and %s, or them out of order: fix it by hand", sec.begin, sec.end)
	case strings.TrimSpace(doc) == "":
		return "# Benchmarks\n\n## " + sec.heading + "\n\n" + body + "\n", nil
	default:
		return strings.TrimRight(doc, "\n") + "\n\n## " + sec.heading + "\n\n" + body + "\n", nil
	}
}

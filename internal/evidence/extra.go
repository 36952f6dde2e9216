package evidence

import (
	"context"
	"fmt"
	"path"
	"strings"
)

// ExtraChain is one more hash-chained JSON-lines file of a bundle beside
// reports and actions (statements of reasons, appeals, notices): Verify
// checks it like the others, since every .jsonl file must have a chain.
type ExtraChain struct {
	// File is the bundle path, a name ending in ".jsonl".
	File string
	// Records calls add for every record matching f, oldest first; each
	// becomes one line with its "prev".
	Records func(ctx context.Context, f Filter, add func(v any) error) error
}

type extraWritten struct {
	file string
	cw   *chainWriter
}

// writeExtra spools every extra chain; the caller closes the writers.
func (x *Exporter) writeExtra(ctx context.Context, f Filter) ([]extraWritten, error) {
	var out []extraWritten
	for _, e := range x.Extra {
		if !strings.HasSuffix(e.File, ".jsonl") || path.Base(e.File) != e.File ||
			e.File == ReportsFile || e.File == ActionsFile {
			return out, fmt.Errorf("evidence: extra chain %q: want a new top-level .jsonl name", e.File)
		}
		cw, err := newChainWriter(x.TempDir, "aupguard-extra-*")
		if err != nil {
			return out, fmt.Errorf("evidence: %w", err)
		}
		out = append(out, extraWritten{file: e.File, cw: cw})
		if err := e.Records(ctx, f, cw.add); err != nil {
			return out, fmt.Errorf("evidence: reading %s: %w", e.File, err)
		}
		if err := cw.finish(); err != nil {
			return out, fmt.Errorf("evidence: spooling %s: %w", e.File, err)
		}
	}
	return out, nil
}

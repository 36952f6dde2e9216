// Package corpus reads labelled prompt corpora (JSONL, optionally gzipped)
// for training and evaluating the learned tier: one object per line with
// id, source, text, label (harmful | benign), category, lang and role.
package corpus

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/aupguard/aupguard/internal/classify"
)

// Row is one labelled prompt.
type Row struct {
	ID       string  `json:"id"`
	Source   string  `json:"source"`
	Text     string  `json:"text"`
	Label    string  `json:"label"`
	Category *string `json:"category"`
	Lang     string  `json:"lang"`
	Role     string  `json:"role"`
}

// Harmful reports the row's label.
func (r Row) Harmful() bool { return r.Label == "harmful" }

// Example is the row as a training example.
func (r Row) Example() classify.Example {
	ex := classify.Example{Text: r.Text, Harmful: r.Harmful(), Source: r.Source, Lang: r.Lang}
	if r.Category != nil {
		ex.Category = *r.Category
	}
	if ex.Lang == "" {
		ex.Lang = "en"
	}
	return ex
}

// Read reads one corpus file and describes it by content hash.
func Read(path string) ([]Row, classify.CorpusFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, classify.CorpusFile{}, err
	}
	defer f.Close()
	h := sha256.New()
	var r io.Reader = io.TeeReader(f, h)
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, classify.CorpusFile{}, fmt.Errorf("%s: %w", path, err)
		}
		r = zr
	}
	var rows []Row
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<24)
	for n := 1; sc.Scan(); n++ {
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		var row Row
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return nil, classify.CorpusFile{}, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		if row.Label != "harmful" && row.Label != "benign" {
			return nil, classify.CorpusFile{}, fmt.Errorf("%s:%d: label %q, want harmful or benign", path, n, row.Label)
		}
		if row.Source == "" {
			return nil, classify.CorpusFile{}, fmt.Errorf("%s:%d: no source", path, n)
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		return nil, classify.CorpusFile{}, fmt.Errorf("%s: %w", path, err)
	}
	_, _ = io.Copy(h, f) // the rest of the file, if the reader stopped early
	return rows, classify.CorpusFile{Name: filepath.Base(path), SHA256: hex.EncodeToString(h.Sum(nil)), Rows: len(rows)}, nil
}

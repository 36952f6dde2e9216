package evidence

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"iter"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/store"
)

// memSource is a Source over slices. It returns everything and leaves the
// filtering to the writer, which must apply it itself.
type memSource struct {
	reports  []store.Report
	actions  []store.Action
	policies []PolicyVersion
	err      error // returned after the first report when set
}

func (s *memSource) Reports(ctx context.Context, f Filter) iter.Seq2[store.Report, error] {
	return func(yield func(store.Report, error) bool) {
		for i, r := range s.reports {
			if i == 1 && s.err != nil {
				yield(store.Report{}, s.err)
				return
			}
			if !yield(r, nil) {
				return
			}
		}
	}
}

func (s *memSource) Actions(ctx context.Context, f Filter) iter.Seq2[store.Action, error] {
	return func(yield func(store.Action, error) bool) {
		for _, a := range s.actions {
			if !yield(a, nil) {
				return
			}
		}
	}
}

func (s *memSource) Policy(ctx context.Context, hash string) (PolicyVersion, error) {
	return findPolicy(s.policies, hash)
}

func findPolicy(vs []PolicyVersion, hash string) (PolicyVersion, error) {
	for _, v := range vs {
		if v.Hash == hash {
			return v, nil
		}
	}
	return PolicyVersion{}, fmt.Errorf("%w: policy version %q", store.ErrNotFound, hash)
}

var t0 = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

func testKey(t testing.TB, seed byte) ed25519.PrivateKey {
	t.Helper()
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func testReport(i int) store.Report {
	cats := []string{"violent_extremism", "self_harm", "fraud_scams"}
	return store.Report{
		ID: fmt.Sprintf("r%06d", i), Time: t0.Add(time.Duration(i) * time.Minute),
		App: "web", User: fmt.Sprintf("user-%d", i%5), Pseudonym: fmt.Sprintf("ps%d", i%5),
		Source: "request", DecisionID: fmt.Sprintf("d%06d", i), Action: []string{"flag", "block"}[i%2],
		Categories: []string{cats[i%3]}, Severity: "high", Rules: []string{"lex.1"}, Strike: 1,
		PolicyHash: "p1", Model: "openai/gpt-4o", Digest: fmt.Sprintf("%064x", i), Length: 100 + i,
	}
}

func testSource(n int) *memSource {
	s := &memSource{policies: []PolicyVersion{
		{Hash: "p1", From: t0.Add(-24 * time.Hour), Files: []PolicyFile{
			{Path: "aup/decision.rego", Data: []byte("package aup\n")}, {Path: "aup/data.json", Data: []byte("{}\n")}}},
		{Hash: "p2", From: t0.Add(time.Hour), Files: []PolicyFile{{Path: "aup/decision.rego", Data: []byte("package aup\n# v2\n")}}},
	}}
	for i := range n {
		s.reports = append(s.reports, testReport(i))
	}
	if n > 1 { // the last report was decided by the next version
		s.reports[n-1].PolicyHash = "p2"
	}
	s.actions = []store.Action{
		{ID: "a1", Time: t0.Add(2 * time.Hour), Actor: "desk-1", App: "web", User: "user-0", Action: "warn",
			Reason: "first offence", ReportIDs: []string{"r000000"}, Before: store.Active, After: store.Warned},
		{ID: "a2", Time: t0.Add(3 * time.Hour), Actor: "aupguard", App: "web", User: "user-1", Action: "suspend",
			Duration: 24 * time.Hour, Reason: "strike threshold", Before: store.Active, After: store.Suspended},
		{ID: "a3", Time: t0.Add(4 * time.Hour), Actor: "desk-2", App: "web", User: "user-2", Action: "note", Reason: "looked"},
	}
	return s
}

// bundle exports src with key and returns the bytes.
func bundle(t testing.TB, x *Exporter, src Source, f Filter) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := x.Export(context.Background(), &buf, src, f); err != nil {
		t.Fatalf("Export: %v", err)
	}
	return buf.Bytes()
}

type tarFile struct {
	hdr  tar.Header
	data []byte
}

// unpack reads a bundle into its files, in order.
func unpack(t testing.TB, b []byte) []tarFile {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var out []tarFile
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tarFile{*hdr, data})
	}
}

func pack(t testing.TB, files []tarFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range files {
		h := f.hdr
		h.Size = int64(len(f.data))
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func fileData(t testing.TB, files []tarFile, name string) []byte {
	t.Helper()
	for _, f := range files {
		if f.hdr.Name == name {
			return f.data
		}
	}
	t.Fatalf("no %s in bundle", name)
	return nil
}

func setFile(files []tarFile, name string, data []byte) {
	for i := range files {
		if files[i].hdr.Name == name {
			files[i].data = data
		}
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

package evidence

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/transparency"
)

// Exporter writes signed bundles. The zero value is not usable: Key is
// required. An Exporter holds no state between calls; one may serve
// concurrent exports.
type Exporter struct {
	Key ed25519.PrivateKey
	// ZDR marks the bundle as made in zero-data-retention mode and withholds
	// any excerpt a report still carries. Reports made in ZDR mode never
	// carry one; their excerpts are withheld whatever this says.
	ZDR bool
	// Generator names the writing program in the manifest; default
	// "aupguard <module version>".
	Generator string
	// TempDir holds the spool files while a bundle is built; default os.TempDir().
	TempDir string
	// Now is the clock for created_at; default time.Now.
	Now func() time.Time
	// GzipLevel is the compression level; 0 means gzip.BestSpeed, which
	// keeps a million-report export well under a minute.
	GzipLevel int
	// Extra are further chained files of every bundle (extra.go).
	Extra []ExtraChain
	// Casework gives the bundle's transparency report its appeals and
	// notices; nil: those figures read zero.
	Casework transparency.Casework
}

// Export writes one bundle of src's records matching f to w with key.
func Export(ctx context.Context, w io.Writer, src Source, key ed25519.PrivateKey, f Filter) (*Manifest, error) {
	x := &Exporter{Key: key}
	return x.Export(ctx, w, src, f)
}

// Export reads everything it needs from src into spool files first and
// writes to w only once that succeeded, so an HTTP handler can still answer
// with an error status when the store fails.
func (x *Exporter) Export(ctx context.Context, w io.Writer, src Source, f Filter) (*Manifest, error) {
	if len(x.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("evidence: no Ed25519 signing key")
	}
	now := time.Now
	if x.Now != nil {
		now = x.Now
	}
	created := now().UTC()
	st := newStats()

	// Actions first: they are few, and indexing reviews before the reports
	// are read lets flag-to-review times be computed in the reports' single pass.
	rawActions, err := os.CreateTemp(x.TempDir, "aupguard-actions-raw-*")
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	defer func() { rawActions.Close(); os.Remove(rawActions.Name()) }()
	rawBuf := bufio.NewWriterSize(rawActions, 64<<10)
	rawEnc := json.NewEncoder(rawBuf)
	reviews := newReviewIndex()
	// The bundle's transparency report counts the bundle's own records.
	// Without a category filter every matching action is in the bundle, so
	// it is counted here, before the reports (whose categories it cites);
	// with one, only the actions kept below count.
	tally := transparency.NewTally(f.Since, f.Until, f.App)
	for a, err := range src.Actions(ctx, f) {
		if err != nil {
			return nil, fmt.Errorf("evidence: reading actions: %w", err)
		}
		if !f.matchAction(&a) {
			continue
		}
		reviews.add(&a)
		if f.Category == "" {
			tally.Action(a)
		}
		if err := rawEnc.Encode(&a); err != nil {
			return nil, fmt.Errorf("evidence: spooling actions: %w", err)
		}
	}
	if err := rawBuf.Flush(); err != nil {
		return nil, fmt.Errorf("evidence: spooling actions: %w", err)
	}
	reviews.sort()

	reports, err := newChainWriter(x.TempDir, "aupguard-reports-*")
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	defer reports.close()
	// With a category filter, keep only the actions about users the bundle
	// has reports of; memory grows with distinct users, not reports.
	var users map[string]struct{}
	if f.Category != "" {
		users = map[string]struct{}{}
	}
	withheld := 0
	n := 0
	cited := map[string]int{} // policy hash → reports citing it
	for r, err := range src.Reports(ctx, f) {
		if err != nil {
			return nil, fmt.Errorf("evidence: reading reports: %w", err)
		}
		if n++; n%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !f.matchReport(&r) {
			continue
		}
		if r.Excerpt != "" && (x.ZDR || r.ZDR) {
			r.Excerpt = ""
			withheld++
		}
		st.addReport(&r, reviews)
		tally.Report(r)
		if r.PolicyHash != "" {
			cited[r.PolicyHash]++
		}
		if users != nil {
			users[userKey(r.App, r.User)] = struct{}{}
		}
		if err := reports.add(&r); err != nil {
			return nil, fmt.Errorf("evidence: spooling reports: %w", err)
		}
	}
	if err := reports.finish(); err != nil {
		return nil, fmt.Errorf("evidence: spooling reports: %w", err)
	}

	actions, err := newChainWriter(x.TempDir, "aupguard-actions-*")
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	defer actions.close()
	if _, err := rawActions.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	dec := json.NewDecoder(bufio.NewReaderSize(rawActions, 64<<10))
	for {
		var a store.Action
		if err := dec.Decode(&a); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("evidence: reading spooled actions: %w", err)
		}
		if users != nil {
			if _, ok := users[userKey(a.App, a.User)]; !ok {
				continue
			}
		}
		st.addAction(&a)
		if f.Category != "" {
			tally.Action(a)
		}
		if err := actions.add(&a); err != nil {
			return nil, fmt.Errorf("evidence: spooling actions: %w", err)
		}
	}
	if err := actions.finish(); err != nil {
		return nil, fmt.Errorf("evidence: spooling actions: %w", err)
	}

	extra, err := x.writeExtra(ctx, f)
	defer func() {
		for _, e := range extra {
			e.cw.close()
		}
	}()
	if err != nil {
		return nil, err
	}

	versions, err := citedPolicies(ctx, src, cited)
	if err != nil {
		return nil, err
	}
	policies, policyFiles, err := policyEntries(versions)
	if err != nil {
		return nil, err
	}

	report, err := x.transparency(ctx, src, tally, created)
	if err != nil {
		return nil, err
	}

	pub := x.Key.Public().(ed25519.PublicKey)
	m := &Manifest{
		Format:    Format,
		Generator: x.generator(),
		CreatedAt: created,
		Filter:    f,
		ZDR:       x.ZDR,
		Counts: Counts{Reports: reports.lines, Actions: actions.lines,
			PolicyVersions: len(policies), ExcerptsWithheld: withheld},
		Chains: []Chain{
			{File: ReportsFile, Lines: reports.lines, Genesis: Genesis, Head: reports.prev},
			{File: ActionsFile, Lines: actions.lines, Genesis: Genesis, Head: actions.prev},
		},
		Files: []File{
			{Path: ReportsFile, Size: reports.size, SHA256: reports.sha256()},
			{Path: ActionsFile, Size: actions.size, SHA256: actions.sha256()},
		},
		Policies:       policies,
		PublicKey:      base64.StdEncoding.EncodeToString(pub),
		KeyFingerprint: Fingerprint(pub),
	}
	for _, e := range extra {
		m.Chains = append(m.Chains, Chain{File: e.file, Lines: e.cw.lines, Genesis: Genesis, Head: e.cw.prev})
		m.Files = append(m.Files, File{Path: e.file, Size: e.cw.size, SHA256: e.cw.sha256()})
		if m.Counts.Records == nil {
			m.Counts.Records = map[string]int{}
		}
		m.Counts.Records[e.file] = e.cw.lines
	}
	for _, pf := range policyFiles {
		m.Files = append(m.Files, File{Path: pf.Path, Size: int64(len(pf.Data)), SHA256: sha256Hex(pf.Data)})
	}
	summary, err := renderSummary(m, st)
	if err != nil {
		return nil, fmt.Errorf("evidence: summary: %w", err)
	}
	m.Files = append(m.Files, File{Path: SummaryFile, Size: int64(len(summary)), SHA256: sha256Hex(summary)})
	m.Files = append(m.Files, File{Path: TransparencyFile, Size: int64(len(report)), SHA256: sha256Hex(report)})

	manifest, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("evidence: manifest: %w", err)
	}
	manifest = append(manifest, '\n')
	sig := ed25519.Sign(x.Key, manifest)

	// Only now does anything reach w.
	level := x.GzipLevel
	if level == 0 {
		level = gzip.BestSpeed
	}
	gz, err := gzip.NewWriterLevel(w, level)
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	tw := tar.NewWriter(gz)
	mtime := created.Truncate(time.Second) // whole seconds: plain ustar headers, no PAX records
	put := func(name string, size int64, r io.Reader) error {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: mtime}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	if err := put(ManifestFile, int64(len(manifest)), bytes.NewReader(manifest)); err != nil {
		return nil, fmt.Errorf("evidence: writing bundle: %w", err)
	}
	if err := put(SignatureFile, int64(len(sig)), bytes.NewReader(sig)); err != nil {
		return nil, fmt.Errorf("evidence: writing bundle: %w", err)
	}
	if err := put(ReportsFile, reports.size, reports.f); err != nil {
		return nil, fmt.Errorf("evidence: writing bundle: %w", err)
	}
	if err := put(ActionsFile, actions.size, actions.f); err != nil {
		return nil, fmt.Errorf("evidence: writing bundle: %w", err)
	}
	for _, e := range extra {
		if err := put(e.file, e.cw.size, e.cw.f); err != nil {
			return nil, fmt.Errorf("evidence: writing bundle: %w", err)
		}
	}
	for _, pf := range policyFiles {
		if err := put(pf.Path, int64(len(pf.Data)), bytes.NewReader(pf.Data)); err != nil {
			return nil, fmt.Errorf("evidence: writing bundle: %w", err)
		}
	}
	if err := put(SummaryFile, int64(len(summary)), bytes.NewReader(summary)); err != nil {
		return nil, fmt.Errorf("evidence: writing bundle: %w", err)
	}
	if err := put(TransparencyFile, int64(len(report)), bytes.NewReader(report)); err != nil {
		return nil, fmt.Errorf("evidence: writing bundle: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("evidence: writing bundle: %w", err)
	}
	if err := gz.Close(); err != nil {
		return nil, fmt.Errorf("evidence: writing bundle: %w", err)
	}
	return m, nil
}

func (x *Exporter) generator() string {
	if x.Generator != "" {
		return x.Generator
	}
	v := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		v = bi.Main.Version
	}
	return "aupguard " + v
}

// MissingPoliciesError is the export's refusal to write a bundle whose
// reports cite policy versions the source does not have: such a bundle
// would not verify, and the decisions could not be checked against their
// policy.
type MissingPoliciesError struct {
	Reports map[string]int // missing hash → reports citing it
}

func (e *MissingPoliciesError) Error() string {
	hs := slices.Sorted(maps.Keys(e.Reports))
	parts := make([]string, 0, len(hs))
	n := 0
	for _, h := range hs {
		parts = append(parts, fmt.Sprintf("%s (%d reports)", h, e.Reports[h]))
		n += e.Reports[h]
	}
	return fmt.Sprintf("evidence: %d reports cite %d policy versions the store does not hold, so no bundle was written: %s",
		n, len(hs), strings.Join(parts, ", "))
}

// citedPolicies reads every version the reports cite, in hash order.
func citedPolicies(ctx context.Context, src Source, cited map[string]int) ([]PolicyVersion, error) {
	var out []PolicyVersion
	missing := map[string]int{}
	for _, h := range slices.Sorted(maps.Keys(cited)) {
		v, err := src.Policy(ctx, h)
		switch {
		case errors.Is(err, store.ErrNotFound):
			missing[h] = cited[h]
			continue
		case err != nil:
			return nil, fmt.Errorf("evidence: reading policy version %s: %w", h, err)
		}
		v.Hash = h
		out = append(out, v)
	}
	if len(missing) > 0 {
		return nil, &MissingPoliciesError{Reports: missing}
	}
	return out, nil
}

var policyHashRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// policyEntries turns policy versions into manifest entries and bundle
// files, refusing names that could escape policies/<hash>/.
func policyEntries(versions []PolicyVersion) ([]PolicyEntry, []PolicyFile, error) {
	entries := []PolicyEntry{}
	var files []PolicyFile
	seen := map[string]bool{}
	for _, v := range versions {
		if !policyHashRE.MatchString(v.Hash) || v.Hash == "." || v.Hash == ".." {
			return nil, nil, fmt.Errorf("evidence: policy hash %q is not usable as a directory name", v.Hash)
		}
		if seen[v.Hash] {
			continue
		}
		seen[v.Hash] = true
		e := PolicyEntry{Hash: v.Hash, From: v.From.UTC(), Files: []string{}}
		fs := slices.Clone(v.Files)
		slices.SortFunc(fs, func(a, b PolicyFile) int { return strings.Compare(a.Path, b.Path) })
		for i, pf := range fs {
			p := pf.Path
			if p == "" || path.IsAbs(p) || path.Clean(p) != p || p == ".." || strings.HasPrefix(p, "../") || strings.Contains(p, `\`) {
				return nil, nil, fmt.Errorf("evidence: policy %s: file path %q is not a clean relative path", v.Hash, p)
			}
			if i > 0 && fs[i-1].Path == p {
				return nil, nil, fmt.Errorf("evidence: policy %s: file %q given twice", v.Hash, p)
			}
			bp := PoliciesDir + v.Hash + "/" + p
			e.Files = append(e.Files, bp)
			files = append(files, PolicyFile{Path: bp, Data: pf.Data})
		}
		entries = append(entries, e)
	}
	return entries, files, nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func userKey(app, user string) string { return app + "\x00" + user }

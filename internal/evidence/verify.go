package evidence

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"
)

// Result is the outcome of Verify.
type Result struct {
	OK bool
	// Summary is one paragraph for people: what the bundle holds and what
	// was checked, or that it is not intact and why.
	Summary string
	// FirstFailure names the first check that failed, starting with the
	// file it concerns ("reports.jsonl: chain break at line 17 (...)"); "" when OK.
	FirstFailure string
	// Manifest is the parsed manifest when it could be read (even when
	// verification failed later; trust it only when OK).
	Manifest *Manifest
	// KeyFingerprint is the fingerprint of the key that signed the manifest.
	KeyFingerprint string
	// OriginVerified is true when the signature was checked against a
	// public key the caller supplied. Without it, a valid signature only
	// shows the bundle is intact as its maker (whoever that was) wrote it.
	OriginVerified bool
}

// Limits that keep a hostile bundle from exhausting memory.
const (
	maxManifest   = 16 << 20
	maxSignature  = 1 << 10
	maxEntries    = 100_000
	maxGzipTrail  = 1 << 20
	signatureSize = ed25519.SignatureSize
)

type entry struct {
	regular   bool
	size      int64
	sha       string
	chain     *chainCheck
	longLine  int // line number of a line over maxLine, 0 if none
	noNewline bool
	// cited: for reports.jsonl, policy hash → first line citing it.
	cited      map[string]int
	citedTotal bool // more than maxCited distinct hashes
}

// maxCited bounds the distinct policy hashes Verify tracks.
const maxCited = 10_000

// Verify checks a bundle read from r: the manifest's signature (against
// pubkey when given, else against the key embedded in the manifest), that
// exactly the listed files are present, every file's SHA-256 and size, each
// hash chain line by line, the chain heads and line counts. It reads r once
// and keeps memory flat; it never panics on arbitrary input.
func Verify(r io.Reader, pubkey ed25519.PublicKey) Result {
	var (
		manifestBytes, sigBytes []byte
		haveManifest, haveSig   bool
		entries                 = map[string]*entry{}
		order                   []string
		duplicate               string
		dirs                    []string
	)
	gz, err := gzip.NewReader(r)
	if err != nil {
		return failed(nil, "bundle: not a gzip stream (%v)", err)
	}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return failed(nil, "bundle: corrupt or truncated tar stream (%v)", err)
		}
		// A bundle unpacked and packed again with tar (`tar czf b.tar.gz -C dir .`)
		// gains "./" prefixes and directory entries; neither changes the evidence.
		if len(order)+len(dirs) >= maxEntries {
			return failed(nil, "bundle: more than %d files", maxEntries)
		}
		name := strings.TrimPrefix(hdr.Name, "./")
		if hdr.Typeflag == tar.TypeDir {
			dirs = append(dirs, strings.TrimSuffix(name, "/"))
			continue
		}
		if _, seen := entries[name]; seen || (name == ManifestFile && haveManifest) || (name == SignatureFile && haveSig) {
			if duplicate == "" {
				duplicate = name
			}
			continue
		}
		regular := hdr.Typeflag == tar.TypeReg && !sparse(hdr)
		switch {
		case name == ManifestFile && regular:
			haveManifest = true
			if manifestBytes, err = readLimited(tr, maxManifest); err != nil {
				return failed(nil, "manifest.json: %v", err)
			}
			continue
		case name == SignatureFile && regular:
			haveSig = true
			if sigBytes, err = readLimited(tr, maxSignature); err != nil {
				return failed(nil, "manifest.sig: %v", err)
			}
			continue
		}
		e := &entry{regular: regular}
		entries[name] = e
		order = append(order, name)
		if !regular {
			continue
		}
		if name == ReportsFile {
			e.cited = map[string]int{}
		}
		if err := e.read(tr, strings.HasSuffix(name, ".jsonl")); err != nil {
			return failed(nil, "bundle: corrupt or truncated while reading %s (%v)", name, err)
		}
	}
	// Reading to the end of the gzip stream checks its CRC; past the tar's
	// end-of-archive marker only zero padding may follow, so nothing can be
	// hidden where tar readers stop looking.
	if msg := checkTrailer(gz); msg != "" {
		return failed(nil, "bundle: %s", msg)
	}

	// The manifest and its signature come first: nothing else can be
	// trusted until they hold.
	if !haveManifest {
		return failed(nil, "manifest.json: missing from the bundle")
	}
	if !haveSig {
		return failed(nil, "manifest.sig: missing from the bundle")
	}
	var m Manifest
	if err := json.Unmarshal(manifestBytes, &m); err != nil {
		return failed(nil, "manifest.json: not valid JSON (%v)", err)
	}
	if m.Format != Format {
		return failed(nil, "manifest.json: format %q, want %q", m.Format, Format)
	}
	raw, err := base64.StdEncoding.DecodeString(m.PublicKey)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return failed(&m, "manifest.json: public_key is not a base64 Ed25519 public key")
	}
	embedded := ed25519.PublicKey(raw)
	if Fingerprint(embedded) != m.KeyFingerprint {
		return failed(&m, "manifest.json: key_fingerprint does not match public_key")
	}
	if len(sigBytes) != signatureSize {
		return failed(&m, "manifest.sig: not an Ed25519 signature (%d bytes, want %d)", len(sigBytes), signatureSize)
	}
	res := Result{Manifest: &m, KeyFingerprint: Fingerprint(embedded)}
	if pubkey != nil {
		if len(pubkey) != ed25519.PublicKeySize {
			return failed(&m, "public key: not an Ed25519 public key")
		}
		if !ed25519.Verify(pubkey, manifestBytes, sigBytes) {
			if ed25519.Verify(embedded, manifestBytes, sigBytes) {
				return failed(&m, "manifest.sig: not made with the given public key %s (the bundle was signed by %s)",
					Fingerprint(pubkey), Fingerprint(embedded))
			}
			return failed(&m, "manifest.json: signature does not verify (manifest.json or manifest.sig altered)")
		}
		if !embedded.Equal(pubkey) {
			return failed(&m, "manifest.json: public_key %s is not the key that signed it (%s)", Fingerprint(embedded), Fingerprint(pubkey))
		}
		res.OriginVerified = true
	} else if !ed25519.Verify(embedded, manifestBytes, sigBytes) {
		return failed(&m, "manifest.json: signature does not verify (manifest.json or manifest.sig altered)")
	}

	if msg := checkManifest(&m); msg != "" {
		return failed(&m, "manifest.json: %s", msg)
	}
	if duplicate != "" {
		return failed(&m, "%s: appears more than once in the bundle", duplicate)
	}
	chains := map[string]Chain{}
	for _, c := range m.Chains {
		chains[c.File] = c
	}
	listed := map[string]bool{}
	for _, f := range m.Files {
		listed[f.Path] = true
		e, ok := entries[f.Path]
		switch {
		case !ok:
			return failed(&m, "%s: missing from the bundle", f.Path)
		case !e.regular:
			return failed(&m, "%s: not a regular file", f.Path)
		}
		if c, ok := chains[f.Path]; ok {
			ch := e.chain
			switch {
			case e.longLine > 0:
				return failed(&m, "%s: line %d is longer than %d bytes", f.Path, e.longLine, maxLine)
			case ch == nil:
				return failed(&m, "%s: listed as a chain but not a .jsonl file", f.Path)
			case ch.brk != "":
				return failed(&m, "%s: %s", f.Path, ch.brk)
			case e.noNewline:
				return failed(&m, "%s: line %d does not end with a newline", f.Path, ch.lines)
			case ch.lines != c.Lines:
				return failed(&m, "%s: %d lines, manifest says %d", f.Path, ch.lines, c.Lines)
			case ch.head != c.Head:
				return failed(&m, "%s: chain head does not match the manifest (line %d altered, or the chain rewritten)", f.Path, ch.lines)
			}
		}
		if e.sha != f.SHA256 {
			if e.size != f.Size {
				return failed(&m, "%s: sha256 mismatch (%d bytes, manifest says %d)", f.Path, e.size, f.Size)
			}
			return failed(&m, "%s: sha256 mismatch", f.Path)
		}
		if e.size != f.Size {
			return failed(&m, "%s: %d bytes, manifest says %d", f.Path, e.size, f.Size)
		}
	}
	for _, name := range order {
		if !listed[name] {
			return failed(&m, "%s: not listed in the manifest", name)
		}
	}
	if len(dirs) > 0 {
		parents := listedDirs(m.Files)
		for _, d := range dirs {
			if d != "" && d != "." && !parents[d] {
				return failed(&m, "%s/: not listed in the manifest", d)
			}
		}
	}

	if msg := checkCited(&m, entries[ReportsFile]); msg != "" {
		return failed(&m, "%s: %s", ReportsFile, msg)
	}

	res.OK = true
	res.Summary = okSummary(&m, res.OriginVerified)
	return res
}

// cite notes the policy hash a report line names.
func (e *entry) cite(line []byte) {
	h := linePolicyHash(line)
	if h == "" {
		return
	}
	if _, ok := e.cited[h]; ok {
		return
	}
	if len(e.cited) >= maxCited {
		e.citedTotal = true
		return
	}
	e.cited[h] = e.chain.lines
}

var policyHashKey = []byte(`"policy_hash":"`)

// linePolicyHash returns the top-level policy_hash of a report line ("":
// none). Decoding a whole line per report would double Verify's time, so
// the common line, as Export writes it, is read directly: the key once
// (unescaped, it can only be a key: a quote inside a string is escaped)
// and a value without escapes. Anything else is decoded in full.
func linePolicyHash(line []byte) string {
	if i := bytes.Index(line, policyHashKey); i >= 0 && bytes.Index(line[i+1:], policyHashKey) < 0 {
		v := line[i+len(policyHashKey):]
		if j := bytes.IndexByte(v, '"'); j >= 0 && bytes.IndexByte(v[:j], '\\') < 0 {
			return string(v[:j])
		}
	}
	if !bytes.Contains(line, []byte("policy_hash")) {
		return ""
	}
	var r struct {
		PolicyHash string `json:"policy_hash"`
	}
	if json.Unmarshal(line, &r) != nil {
		return "" // not a report line: the chain check fails it
	}
	return r.PolicyHash
}

// checkCited fails a bundle in which a report cites a policy version whose
// files the bundle does not hold: its decisions could not be checked.
func checkCited(m *Manifest, reports *entry) string {
	if reports == nil {
		return ""
	}
	if reports.citedTotal {
		return fmt.Sprintf("reports cite more than %d distinct policy versions", maxCited)
	}
	held := map[string]bool{}
	for _, p := range m.Policies {
		held[p.Hash] = len(p.Files) > 0
	}
	var missing []string
	first, firstLine := "", 0
	for h, line := range reports.cited {
		if held[h] {
			continue
		}
		missing = append(missing, h)
		if firstLine == 0 || line < firstLine {
			first, firstLine = h, line
		}
	}
	if len(missing) == 0 {
		return ""
	}
	slices.Sort(missing)
	return fmt.Sprintf("line %d cites policy version %s, whose files are not in the bundle (%d cited versions missing: %s)",
		firstLine, first, len(missing), strings.Join(missing, ", "))
}

// listedDirs returns every directory that holds a listed file.
func listedDirs(files []File) map[string]bool {
	dirs := map[string]bool{}
	for _, f := range files {
		for d := path.Dir(f.Path); d != "." && d != "/" && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	return dirs
}

// sparse reports PAX sparse files, whose holes the tar reader would expand
// without end: a bundle never holds them.
func sparse(hdr *tar.Header) bool {
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

func (e *entry) read(r io.Reader, jsonl bool) error {
	h := sha256.New()
	cr := &countingReader{r: io.TeeReader(r, h)}
	if jsonl {
		e.chain = newChainCheck()
		lr := newLineReader(cr)
		for {
			line, noNL, err := lr.next()
			if errors.Is(err, io.EOF) {
				break
			}
			if errors.Is(err, errLineTooLong) {
				e.longLine = e.chain.lines + 1
				break
			}
			if err != nil {
				return err
			}
			e.chain.line(line)
			if e.cited != nil {
				e.cite(line)
			}
			if noNL {
				e.noNewline = true
				break
			}
		}
	}
	// Hash whatever the line reader left (all of it for other files).
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return err
	}
	e.size, e.sha = cr.n, hex.EncodeToString(h.Sum(nil))
	return nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func checkTrailer(r io.Reader) string {
	buf := make([]byte, 32<<10)
	var total int64
	for {
		n, err := r.Read(buf)
		for _, c := range buf[:n] {
			if c != 0 {
				return "data after the end of the archive"
			}
		}
		if total += int64(n); total > maxGzipTrail {
			return "too much padding after the end of the archive"
		}
		if errors.Is(err, io.EOF) {
			return ""
		}
		if err != nil {
			return fmt.Sprintf("corrupt gzip stream (%v)", err)
		}
	}
}

func readLimited(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}

// checkManifest checks that a validly signed manifest is also coherent: a
// buggy or hostile signer should not get a pass.
func checkManifest(m *Manifest) string {
	files := map[string]bool{}
	for _, f := range m.Files {
		if files[f.Path] {
			return fmt.Sprintf("file %s listed twice", f.Path)
		}
		if f.Path == ManifestFile || f.Path == SignatureFile {
			return fmt.Sprintf("lists %s among its files", f.Path)
		}
		if !isHex64(f.SHA256) {
			return fmt.Sprintf("file %s has no valid sha256", f.Path)
		}
		files[f.Path] = true
	}
	for _, need := range []string{ReportsFile, ActionsFile, SummaryFile} {
		if !files[need] {
			return fmt.Sprintf("does not list %s", need)
		}
	}
	lines := map[string]int{}
	for _, c := range m.Chains {
		if !files[c.File] {
			return fmt.Sprintf("chain %s is not a listed file", c.File)
		}
		if _, dup := lines[c.File]; dup {
			return fmt.Sprintf("chain %s listed twice", c.File)
		}
		if c.Genesis != Genesis {
			return fmt.Sprintf("chain %s has genesis %q, want 64 zeros", c.File, c.Genesis)
		}
		if !isHex64(c.Head) {
			return fmt.Sprintf("chain %s has no valid head", c.File)
		}
		lines[c.File] = c.Lines
	}
	for _, f := range m.Files {
		if _, ok := lines[f.Path]; strings.HasSuffix(f.Path, ".jsonl") && !ok {
			return fmt.Sprintf("%s has no chain", f.Path)
		}
	}
	if n, ok := lines[ReportsFile]; !ok || n != m.Counts.Reports {
		return fmt.Sprintf("counts.reports is %d but the reports chain has %d lines", m.Counts.Reports, n)
	}
	if n, ok := lines[ActionsFile]; !ok || n != m.Counts.Actions {
		return fmt.Sprintf("counts.actions is %d but the actions chain has %d lines", m.Counts.Actions, n)
	}
	if m.Counts.PolicyVersions != len(m.Policies) {
		return fmt.Sprintf("counts.policy_versions is %d but %d policies are listed", m.Counts.PolicyVersions, len(m.Policies))
	}
	for _, p := range m.Policies {
		for _, f := range p.Files {
			if !strings.HasPrefix(f, PoliciesDir+p.Hash+"/") || !files[f] {
				return fmt.Sprintf("policy %s file %s is not a listed file under %s%s/", p.Hash, f, PoliciesDir, p.Hash)
			}
		}
	}
	return ""
}

func failed(m *Manifest, format string, args ...any) Result {
	msg := fmt.Sprintf(format, args...)
	return Result{FirstFailure: msg, Manifest: m, Summary: "bundle NOT intact: " + msg}
}

func okSummary(m *Manifest, origin bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "bundle intact: %d reports, %d actions, %d policy versions", m.Counts.Reports, m.Counts.Actions, m.Counts.PolicyVersions)
	if m.Counts.ExcerptsWithheld > 0 {
		fmt.Fprintf(&b, ", %d excerpts withheld", m.Counts.ExcerptsWithheld)
	}
	fmt.Fprintf(&b, "\ncreated %s by %s", m.CreatedAt.UTC().Format(time.RFC3339), m.Generator)
	period := func(t time.Time, open string) string {
		if t.IsZero() {
			return open
		}
		return t.UTC().Format(time.RFC3339)
	}
	fmt.Fprintf(&b, "\nperiod %s to %s", period(m.Filter.Since, "(start)"), period(m.Filter.Until, "(creation)"))
	for _, kv := range [][2]string{{"app", m.Filter.App}, {"user", m.Filter.User}, {"category", m.Filter.Category}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, ", %s %q", kv[0], kv[1])
		}
	}
	if m.ZDR {
		b.WriteString("\nzero data retention: no prompt or answer text")
	}
	fmt.Fprintf(&b, "\nsigned by %s", m.KeyFingerprint)
	if origin {
		b.WriteString("\nsignature verified against the given public key: intact and made by its holder")
	} else {
		b.WriteString("\nsignature verified only against the public key embedded in the bundle: this proves the bundle is intact, not who made it (pass --pubkey with the operator's public key)")
	}
	return b.String()
}

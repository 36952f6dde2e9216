package evidence

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// Each tampering kind gets its own case; every case must fail Verify with
// the first failure it names.
func TestTamperingDetected(t *testing.T) {
	key := testKey(t, 1)
	pub := key.Public().(ed25519.PublicKey)
	orig := bundle(t, &Exporter{Key: key}, testSource(30), Filter{})
	if res := Verify(bytes.NewReader(orig), pub); !res.OK {
		t.Fatalf("untouched bundle: %s", res.FirstFailure)
	}

	lines := func(files []tarFile, name string) []string {
		return strings.SplitAfter(string(fileData(t, files, name)), "\n")[:strings.Count(string(fileData(t, files, name)), "\n")]
	}
	join := func(ls []string) []byte { return []byte(strings.Join(ls, "")) }

	cases := []struct {
		name   string
		pubkey ed25519.PublicKey
		tamper func(files []tarFile) []tarFile
		want   string // prefix of FirstFailure
	}{
		{"policy file hash", pub, func(fs []tarFile) []tarFile {
			setFile(fs, "policies/p1/aup/decision.rego", []byte("package aup\ndefault allow := true\n"))
			return fs
		}, "policies/p1/aup/decision.rego: sha256 mismatch"},
		{"summary same size", pub, func(fs []tarFile) []tarFile {
			d := bytes.Clone(fileData(t, fs, SummaryFile))
			d[len(d)-10] ^= 1
			setFile(fs, SummaryFile, d)
			return fs
		}, "summary.html: sha256 mismatch"},
		{"trailing bytes after the last line", pub, func(fs []tarFile) []tarFile {
			setFile(fs, ActionsFile, append(bytes.Clone(fileData(t, fs, ActionsFile)), "\n"...))
			return fs
		}, "actions.jsonl: line 4 is not a JSON object"},
		{"chain break at line N", pub, func(fs []tarFile) []tarFile {
			ls := lines(fs, ReportsFile)
			ls[16] = strings.Replace(ls[16], `"user":"user-1"`, `"user":"user-9"`, 1) // line 17
			setFile(fs, ReportsFile, join(ls))
			return fs
		}, "reports.jsonl: chain break at line 18 (line 17 altered"},
		{"missing line", pub, func(fs []tarFile) []tarFile {
			ls := lines(fs, ReportsFile)
			setFile(fs, ReportsFile, join(append(ls[:9:9], ls[10:]...))) // drop line 10
			return fs
		}, "reports.jsonl: chain break at line 10 (line 9 altered, or a line missing"},
		{"missing first line", pub, func(fs []tarFile) []tarFile {
			setFile(fs, ReportsFile, join(lines(fs, ReportsFile)[1:]))
			return fs
		}, "reports.jsonl: chain break at line 1 (prev is not the genesis value"},
		{"missing last line", pub, func(fs []tarFile) []tarFile {
			ls := lines(fs, ReportsFile)
			setFile(fs, ReportsFile, join(ls[:len(ls)-1]))
			return fs
		}, "reports.jsonl: 29 lines, manifest says 30"},
		{"reordered lines", pub, func(fs []tarFile) []tarFile {
			ls := lines(fs, ReportsFile)
			ls[4], ls[5] = ls[5], ls[4] // lines 5 and 6
			setFile(fs, ReportsFile, join(ls))
			return fs
		}, "reports.jsonl: chain break at line 5 (lines reordered: line 5 belongs after line 6)"},
		{"repeated line", pub, func(fs []tarFile) []tarFile {
			ls := lines(fs, ReportsFile)
			ls = append(ls[:8:8], append([]string{ls[6]}, ls[8:]...)...) // line 7 again as line 9
			setFile(fs, ReportsFile, join(ls))
			return fs
		}, "reports.jsonl: chain break at line 9 (lines reordered or repeated: line 9 follows line 6)"},
		{"chain rewritten after an edit", pub, func(fs []tarFile) []tarFile {
			// An attacker who recomputes every prev still cannot match the signed head.
			ls := lines(fs, ActionsFile)
			prev := Genesis
			for i, l := range ls {
				var m map[string]any
				json.Unmarshal([]byte(l), &m)
				m["prev"] = prev
				if i == 0 {
					m["reason"] = "nothing to see"
				}
				b, _ := json.Marshal(m)
				ls[i] = string(b) + "\n"
				prev = sha256Hex(b)
			}
			setFile(fs, ActionsFile, join(ls))
			return fs
		}, "actions.jsonl: chain head does not match the manifest"},
		{"manifest edit", pub, func(fs []tarFile) []tarFile {
			setFile(fs, ManifestFile, bytes.Replace(fileData(t, fs, ManifestFile), []byte(`"reports": 30`), []byte(`"reports": 29`), 1))
			return fs
		}, "manifest.json: signature does not verify"},
		{"manifest edit, no pubkey", nil, func(fs []tarFile) []tarFile {
			setFile(fs, ManifestFile, bytes.Replace(fileData(t, fs, ManifestFile), []byte(`"zdr": false`), []byte(`"zdr": true`), 1))
			return fs
		}, "manifest.json: signature does not verify"},
		{"bad signature", pub, func(fs []tarFile) []tarFile {
			sig := bytes.Clone(fileData(t, fs, SignatureFile))
			sig[7] ^= 0x40
			setFile(fs, SignatureFile, sig)
			return fs
		}, "manifest.json: signature does not verify"},
		{"truncated signature", nil, func(fs []tarFile) []tarFile {
			setFile(fs, SignatureFile, fileData(t, fs, SignatureFile)[:63])
			return fs
		}, "manifest.sig: not an Ed25519 signature (63 bytes, want 64)"},
		{"wrong pubkey", testKey(t, 2).Public().(ed25519.PublicKey), func(fs []tarFile) []tarFile { return fs },
			"manifest.sig: not made with the given public key"},
		{"re-signed by someone else", pub, func(fs []tarFile) []tarFile {
			return resign(t, fs, testKey(t, 3))
		}, "manifest.sig: not made with the given public key"},
		{"extra file", pub, func(fs []tarFile) []tarFile {
			return append(fs, tarFile{tar.Header{Name: "policies/p1/aup/backdoor.rego", Mode: 0o644, Typeflag: tar.TypeReg}, []byte("x")})
		}, "policies/p1/aup/backdoor.rego: not listed in the manifest"},
		{"missing file", pub, func(fs []tarFile) []tarFile {
			var out []tarFile
			for _, f := range fs {
				if f.hdr.Name != ActionsFile {
					out = append(out, f)
				}
			}
			return out
		}, "actions.jsonl: missing from the bundle"},
		{"duplicate file", pub, func(fs []tarFile) []tarFile {
			return append(fs, fs[2])
		}, "reports.jsonl: appears more than once in the bundle"},
		{"missing signature", pub, func(fs []tarFile) []tarFile { return append(fs[:1:1], fs[2:]...) },
			"manifest.sig: missing from the bundle"},
		{"missing manifest", pub, func(fs []tarFile) []tarFile { return fs[1:] },
			"manifest.json: missing from the bundle"},
		{"file turned into a symlink", pub, func(fs []tarFile) []tarFile {
			for i := range fs {
				if fs[i].hdr.Name == SummaryFile {
					fs[i].hdr.Typeflag, fs[i].hdr.Linkname, fs[i].data = tar.TypeSymlink, "/etc/passwd", nil
				}
			}
			return fs
		}, "summary.html: not a regular file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := pack(t, c.tamper(unpack(t, orig)))
			res := Verify(bytes.NewReader(b), c.pubkey)
			if res.OK {
				t.Fatalf("tampered bundle verified: %s", res.Summary)
			}
			if !strings.HasPrefix(res.FirstFailure, c.want) {
				t.Errorf("first failure\n  %s\nwant prefix\n  %s", res.FirstFailure, c.want)
			}
			if !strings.Contains(res.Summary, "NOT intact") {
				t.Errorf("summary %q", res.Summary)
			}
		})
	}
}

// Re-signing with another key and embedding that key passes an
// integrity-only check: that is exactly why origin needs --pubkey.
func TestResignedPassesIntegrityOnly(t *testing.T) {
	key := testKey(t, 1)
	orig := bundle(t, &Exporter{Key: key}, testSource(3), Filter{})
	b := pack(t, resign(t, unpack(t, orig), testKey(t, 3)))
	res := Verify(bytes.NewReader(b), nil)
	if !res.OK || res.OriginVerified {
		t.Fatalf("ok %v origin %v: %s", res.OK, res.OriginVerified, res.FirstFailure)
	}
	if res.KeyFingerprint == Fingerprint(key.Public().(ed25519.PublicKey)) {
		t.Error("fingerprint should be the forger's")
	}
}

func resign(t *testing.T, fs []tarFile, key ed25519.PrivateKey) []tarFile {
	var m Manifest
	if err := json.Unmarshal(fileData(t, fs, ManifestFile), &m); err != nil {
		t.Fatal(err)
	}
	pub := key.Public().(ed25519.PublicKey)
	m.PublicKey = b64(pub)
	m.KeyFingerprint = Fingerprint(pub)
	mb, _ := json.MarshalIndent(m, "", "  ")
	setFile(fs, ManifestFile, mb)
	setFile(fs, SignatureFile, ed25519.Sign(key, mb))
	return fs
}

func TestVerifyRejectsBrokenStreams(t *testing.T) {
	key := testKey(t, 1)
	orig := bundle(t, &Exporter{Key: key}, testSource(30), Filter{})

	cases := map[string][]byte{
		"not gzip":        []byte("hello"),
		"empty":           nil,
		"truncated":       orig[:len(orig)/2],
		"no gzip trailer": orig[:len(orig)-4],
	}
	// Bytes hidden after the tar's end-of-archive marker.
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, f := range unpack(t, orig) {
		h := f.hdr
		tw.WriteHeader(&h)
		tw.Write(f.data)
	}
	tw.Close()
	gz.Write([]byte("hidden"))
	gz.Close()
	cases["data after the archive"] = buf.Bytes()

	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			res := Verify(bytes.NewReader(b), nil)
			if res.OK || !strings.HasPrefix(res.FirstFailure, "bundle: ") {
				t.Errorf("ok %v, first failure %q", res.OK, res.FirstFailure)
			}
		})
	}
}

// The failures read well; logged so `go test -v -run Messages` shows them.
func TestFailureMessages(t *testing.T) {
	key := testKey(t, 1)
	orig := bundle(t, &Exporter{Key: key}, testSource(30), Filter{})
	fs := unpack(t, orig)
	ls := strings.SplitAfter(string(fileData(t, fs, ReportsFile)), "\n")
	ls[4], ls[5] = ls[5], ls[4]
	setFile(fs, ReportsFile, []byte(strings.Join(ls, "")))
	res := Verify(bytes.NewReader(pack(t, fs)), key.Public().(ed25519.PublicKey))
	t.Log(res.Summary)
	if res.OK {
		t.Fatal("reordered bundle verified")
	}
}

// A PAX sparse entry whose holes expand to a terabyte: the tar reader would
// produce zeros for hours. Verify must refuse it without reading it.
func TestVerifyRefusesSparseEntries(t *testing.T) {
	key := testKey(t, 1)
	files := unpack(t, bundle(t, &Exporter{Key: key}, testSource(2), Filter{}))
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, f := range files {
		if f.hdr.Name == SummaryFile {
			continue
		}
		h := f.hdr
		tw.WriteHeader(&h)
		tw.Write(f.data)
	}
	tw.Flush()
	pax := paxRecords(map[string]string{"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
		"GNU.sparse.name": SummaryFile, "GNU.sparse.realsize": "1099511627776"})
	raw.Write(rawHeader("PaxHeaders/summary", 'x', len(pax)))
	raw.Write(pad512(pax))
	sparseMap := []byte("1\n0\n0\n") // one region: offset 0, 0 bytes; the rest is hole
	raw.Write(rawHeader("GNUSparseFile.0/summary.html", '0', 512))
	raw.Write(pad512(sparseMap))
	raw.Write(make([]byte, 1024)) // end of archive

	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	gz.Write(raw.Bytes())
	gz.Close()
	res := Verify(&buf, nil)
	if res.OK || !strings.HasPrefix(res.FirstFailure, "summary.html: not a regular file") {
		t.Errorf("first failure %q", res.FirstFailure)
	}
}

func paxRecords(kv map[string]string) []byte {
	var b bytes.Buffer
	for k, v := range kv {
		rec := " " + k + "=" + v + "\n"
		n := len(rec) + 1
		for len(strconv.Itoa(n))+len(rec) != n {
			n++
		}
		b.WriteString(strconv.Itoa(n) + rec)
	}
	return b.Bytes()
}

func pad512(b []byte) []byte { return append(b, make([]byte, (512-len(b)%512)%512)...) }

// rawHeader builds a ustar header block by hand, for entries tar.Writer refuses to write.
func rawHeader(name string, typ byte, size int) []byte {
	h := make([]byte, 512)
	copy(h[0:], name)
	copy(h[100:], "0000644\x00")
	copy(h[108:], "0000000\x00")
	copy(h[116:], "0000000\x00")
	copy(h[124:], fmt.Sprintf("%011o\x00", size))
	copy(h[136:], "00000000000\x00")
	h[156] = typ
	copy(h[257:], "ustar\x0000")
	copy(h[148:], "        ")
	sum := 0
	for _, c := range h {
		sum += int(c)
	}
	copy(h[148:], fmt.Sprintf("%06o\x00 ", sum))
	return h
}

// Unpacking and packing again with tar adds "./" and directory entries;
// the evidence is unchanged, so it still verifies. A directory that holds
// no listed file does not.
func TestVerifyAcceptsRepackedBundle(t *testing.T) {
	key := testKey(t, 1)
	files := unpack(t, bundle(t, &Exporter{Key: key}, testSource(5), Filter{}))
	dir := func(name string) tarFile {
		return tarFile{tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}, nil}
	}
	repacked := []tarFile{dir("./"), dir("./policies/"), dir("./policies/p1/"), dir("./policies/p1/aup/")}
	for i := len(files) - 1; i >= 0; i-- { // reversed order, too
		f := files[i]
		f.hdr.Name = "./" + f.hdr.Name
		repacked = append(repacked, f)
	}
	res := Verify(bytes.NewReader(pack(t, repacked)), key.Public().(ed25519.PublicKey))
	if !res.OK {
		t.Fatalf("repacked bundle: %s", res.FirstFailure)
	}
	res = Verify(bytes.NewReader(pack(t, append(repacked, dir("./evil/")))), nil)
	if res.OK || res.FirstFailure != "evil/: not listed in the manifest" {
		t.Errorf("stray directory: %q", res.FirstFailure)
	}
}

package evidence

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
)

// dropPolicy removes a policy version from a bundle — its files, its
// manifest entry — and signs the manifest again with the maker's key: a
// bundle whose every hash and signature hold, but whose reports cite a
// version it lacks.
func dropPolicy(t *testing.T, b []byte, key ed25519.PrivateKey, hash string) []byte {
	t.Helper()
	fs := unpack(t, b)
	var m Manifest
	if err := json.Unmarshal(fileData(t, fs, ManifestFile), &m); err != nil {
		t.Fatal(err)
	}
	prefix := PoliciesDir + hash + "/"
	var keep []tarFile
	for _, f := range fs {
		if !strings.HasPrefix(f.hdr.Name, prefix) {
			keep = append(keep, f)
		}
	}
	var files []File
	for _, f := range m.Files {
		if !strings.HasPrefix(f.Path, prefix) {
			files = append(files, f)
		}
	}
	var pols []PolicyEntry
	for _, p := range m.Policies {
		if p.Hash != hash {
			pols = append(pols, p)
		}
	}
	m.Files, m.Policies, m.Counts.PolicyVersions = files, pols, len(pols)
	mb, _ := json.MarshalIndent(m, "", "  ")
	setFile(keep, ManifestFile, mb)
	setFile(keep, SignatureFile, ed25519.Sign(key, mb))
	return pack(t, keep)
}

func TestVerifyFailsCitedPolicyMissing(t *testing.T) {
	key := testKey(t, 1)
	pub := key.Public().(ed25519.PublicKey)
	src := testSource(10) // reports 0-8 cite p1, report 9 cites p2
	orig := bundle(t, &Exporter{Key: key}, src, Filter{})
	if res := Verify(bytes.NewReader(orig), pub); !res.OK || res.Manifest.Counts.PolicyVersions != 2 {
		t.Fatalf("untouched bundle: %s", res.Summary)
	}

	res := Verify(bytes.NewReader(dropPolicy(t, orig, key, "p2")), pub)
	want := "reports.jsonl: line 10 cites policy version p2, whose files are not in the bundle (1 cited versions missing: p2)"
	if res.OK || res.FirstFailure != want {
		t.Fatalf("p2 dropped: ok %v, %q\nwant %q", res.OK, res.FirstFailure, want)
	}
	res = Verify(bytes.NewReader(dropPolicy(t, dropPolicy(t, orig, key, "p2"), key, "p1")), pub)
	if res.OK || !strings.Contains(res.FirstFailure, "line 1 cites policy version p1") || !strings.Contains(res.FirstFailure, "missing: p1, p2") {
		t.Fatalf("both dropped: %q", res.FirstFailure)
	}
}

// Only cited versions go into a bundle; a report without a policy hash
// cites none.
func TestExportHoldsCitedVersionsOnly(t *testing.T) {
	src := testSource(3)
	src.reports[2].PolicyHash = "" // cites nothing
	src.policies = append(src.policies, PolicyVersion{Hash: "p3", Files: []PolicyFile{{Path: "x.rego", Data: []byte("package x\n")}}})
	b := bundle(t, &Exporter{Key: testKey(t, 1)}, src, Filter{})
	res := Verify(bytes.NewReader(b), nil)
	if !res.OK || len(res.Manifest.Policies) != 1 || res.Manifest.Policies[0].Hash != "p1" {
		t.Fatalf("%s %+v", res.Summary, res.Manifest.Policies)
	}
}

func TestLinePolicyHash(t *testing.T) {
	for line, want := range map[string]string{
		`{"prev":"00","id":"r1","policy_hash":"p1","model":"m"}`:                    "p1",
		`{"prev":"00","id":"r1","policy_hash":""}`:                                  "",
		`{"prev":"00","id":"r1"}`:                                                   "",
		`{"prev":"00","policy_hash":null}`:                                          "",
		`{"prev":"00","policy_hash" : "p2"}`:                                        "p2",
		`{"prev":"00","policy_hash":"p\u0033"}`:                                     "p3",
		`{"prev":"00","excerpt":"say \"policy_hash\":\"evil\"","policy_hash":"p1"}`: "p1",
		`{"prev":"00","x":{"policy_hash":"inner"},"policy_hash":"outer"}`:           "outer",
		`{"prev":"00","excerpt":"policy_hash is a field"}`:                          "",
		`not json "policy_hash":"x" "policy_hash":"y"`:                              "",
	} {
		if got := linePolicyHash([]byte(line)); got != want {
			t.Errorf("%s: %q, want %q", line, got, want)
		}
	}
}

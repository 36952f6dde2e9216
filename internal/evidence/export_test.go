package evidence

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/store"
)

func TestRoundTrip(t *testing.T) {
	key := testKey(t, 1)
	src := testSource(40)
	x := &Exporter{Key: key, Generator: "aupguard test", Now: func() time.Time { return t0.Add(48 * time.Hour) }}
	b := bundle(t, x, src, Filter{})

	res := Verify(bytes.NewReader(b), key.Public().(ed25519.PublicKey))
	if !res.OK {
		t.Fatalf("Verify: %s", res.FirstFailure)
	}
	if !res.OriginVerified || !strings.Contains(res.Summary, "40 reports, 3 actions, 2 policy versions") {
		t.Errorf("origin %v, summary:\n%s", res.OriginVerified, res.Summary)
	}
	m := res.Manifest
	if m.Format != Format || m.Generator != "aupguard test" || !m.CreatedAt.Equal(t0.Add(48*time.Hour)) || m.ZDR {
		t.Errorf("manifest header: %+v", m)
	}
	if m.KeyFingerprint != Fingerprint(key.Public().(ed25519.PublicKey)) {
		t.Errorf("fingerprint %s", m.KeyFingerprint)
	}
	var paths []string
	for _, f := range m.Files {
		paths = append(paths, f.Path)
	}
	want := []string{"reports.jsonl", "actions.jsonl", "policies/p1/aup/data.json", "policies/p1/aup/decision.rego",
		"policies/p2/aup/decision.rego", "summary.html", "transparency.json"}
	if !reflect.DeepEqual(paths, want) {
		t.Errorf("files %v, want %v", paths, want)
	}

	// The records come back exactly, each line chained to the one before.
	files := unpack(t, b)
	lines := strings.Split(strings.TrimSuffix(string(fileData(t, files, ReportsFile)), "\n"), "\n")
	if len(lines) != 40 {
		t.Fatalf("%d report lines", len(lines))
	}
	prev := Genesis
	for i, line := range lines {
		var got struct {
			Prev string `json:"prev"`
			store.Report
		}
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatal(err)
		}
		if got.Prev != prev {
			t.Fatalf("line %d prev %s, want %s", i+1, got.Prev, prev)
		}
		prev = sha256Hex([]byte(line))
		if !reflect.DeepEqual(got.Report, src.reports[i]) {
			t.Fatalf("line %d: %+v\nwant %+v", i+1, got.Report, src.reports[i])
		}
	}
	if m.Chains[0].Head != prev || m.Chains[0].Lines != 40 {
		t.Errorf("reports chain %+v, head want %s", m.Chains[0], prev)
	}
	if got := string(fileData(t, files, "policies/p2/aup/decision.rego")); got != "package aup\n# v2\n" {
		t.Errorf("policy source %q", got)
	}
	if files[0].hdr.Name != ManifestFile || files[1].hdr.Name != SignatureFile {
		t.Errorf("manifest and signature must come first, got %s, %s", files[0].hdr.Name, files[1].hdr.Name)
	}

	// Without the operator's key only integrity is shown, and said so.
	res = Verify(bytes.NewReader(b), nil)
	if !res.OK || res.OriginVerified || !strings.Contains(res.Summary, "not who made it") {
		t.Errorf("embedded-key verify: ok %v origin %v\n%s", res.OK, res.OriginVerified, res.Summary)
	}
}

func TestEmptyBundle(t *testing.T) {
	key := testKey(t, 1)
	b := bundle(t, &Exporter{Key: key}, &memSource{}, Filter{User: "nobody"})
	res := Verify(bytes.NewReader(b), key.Public().(ed25519.PublicKey))
	if !res.OK {
		t.Fatal(res.FirstFailure)
	}
	if c := res.Manifest.Chains[0]; c.Lines != 0 || c.Head != Genesis {
		t.Errorf("empty chain %+v", c)
	}
}

func TestFilterAppliedByWriter(t *testing.T) {
	key := testKey(t, 1)
	cases := []struct {
		name    string
		n       int
		f       Filter
		reports int
		actions int
	}{
		{"user", 30, Filter{User: "user-0"}, 6, 1},
		// Only report 1 (user-1) is self_harm: only user-1's action goes along.
		{"category", 3, Filter{Category: "self_harm"}, 1, 1},
		{"range", 30, Filter{Since: t0.Add(10 * time.Minute), Until: t0.Add(20 * time.Minute)}, 10, 0},
		{"app", 30, Filter{App: "other"}, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := bundle(t, &Exporter{Key: key}, testSource(c.n), c.f)
			res := Verify(bytes.NewReader(b), nil)
			if !res.OK {
				t.Fatal(res.FirstFailure)
			}
			if got := res.Manifest.Counts; got.Reports != c.reports || got.Actions != c.actions {
				t.Errorf("counts %+v, want %d reports %d actions", got, c.reports, c.actions)
			}
			if res.Manifest.Filter != c.f {
				t.Errorf("manifest filter %+v", res.Manifest.Filter)
			}
		})
	}
}

func TestZDRWithholdsExcerpts(t *testing.T) {
	const canary = "CANARY-4f1d-prompt-text"
	key := testKey(t, 1)
	src := testSource(4)
	src.reports[0].Excerpt = canary + " zero"
	src.reports[1].Excerpt = canary + " one"
	src.reports[1].ZDR = true // made in ZDR mode: never exported with content

	// Not ZDR: the ordinary report keeps its excerpt, the ZDR one does not.
	files := unpack(t, bundle(t, &Exporter{Key: key}, src, Filter{}))
	reports := string(fileData(t, files, ReportsFile))
	if !strings.Contains(reports, canary+" zero") || strings.Contains(reports, canary+" one") {
		t.Errorf("non-ZDR export: %s", reports)
	}

	b := bundle(t, &Exporter{Key: key, ZDR: true}, src, Filter{})
	for _, f := range unpack(t, b) {
		if bytes.Contains(f.data, []byte(canary)) {
			t.Errorf("ZDR bundle: %s holds content", f.hdr.Name)
		}
	}
	res := Verify(bytes.NewReader(b), nil)
	if !res.OK || !res.Manifest.ZDR || res.Manifest.Counts.ExcerptsWithheld != 2 {
		t.Errorf("ZDR manifest: ok %v %+v", res.OK, res.Manifest)
	}
	if !strings.Contains(res.Summary, "zero data retention") {
		t.Errorf("summary does not say ZDR:\n%s", res.Summary)
	}
}

func TestExportSourceErrorWritesNothing(t *testing.T) {
	src := testSource(3)
	src.err = errors.New("store down")
	var buf bytes.Buffer
	_, err := Export(context.Background(), &buf, src, testKey(t, 1), Filter{})
	if err == nil || !strings.Contains(err.Error(), "store down") {
		t.Fatalf("err %v", err)
	}
	if buf.Len() != 0 {
		t.Errorf("%d bytes written before the error", buf.Len())
	}
}

func TestExportRefusesUnsafePolicyPaths(t *testing.T) {
	for _, pv := range []PolicyVersion{
		{Hash: "../x", Files: []PolicyFile{{Path: "a.rego"}}},
		{Hash: "p", Files: []PolicyFile{{Path: "../../etc/passwd"}}},
		{Hash: "p", Files: []PolicyFile{{Path: "/abs.rego"}}},
		{Hash: "p", Files: []PolicyFile{{Path: "a/./b.rego"}}},
		{Hash: "p", Files: []PolicyFile{{Path: "a.rego"}, {Path: "a.rego"}}},
	} {
		r := testReport(0)
		r.PolicyHash = pv.Hash
		src := &memSource{policies: []PolicyVersion{pv}, reports: []store.Report{r}}
		var buf bytes.Buffer
		if _, err := Export(context.Background(), &buf, src, testKey(t, 1), Filter{}); err == nil {
			t.Errorf("policy %+v accepted", pv)
		}
	}
}

func TestExportNeedsKey(t *testing.T) {
	if _, err := Export(context.Background(), &bytes.Buffer{}, &memSource{}, nil, Filter{}); err == nil {
		t.Error("export without a key succeeded")
	}
}

func TestExportCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var buf bytes.Buffer
	_, err := Export(ctx, &buf, testSource(10000), testKey(t, 1), Filter{})
	if !errors.Is(err, context.Canceled) || buf.Len() != 0 {
		t.Errorf("err %v, %d bytes", err, buf.Len())
	}
}

package evidence

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fuzzSeeds are small bundles: a good one, and damaged ones that reach the
// deeper checks, so the fuzzer starts past the gzip and tar layers.
func fuzzSeeds(t testing.TB) map[string][]byte {
	key := testKey(t, 1)
	x := &Exporter{Key: key, Generator: "aupguard fuzz", Now: func() time.Time { return t0 }}
	good := bundle(t, x, testSource(4), Filter{User: "user-1"})
	seeds := map[string][]byte{"good": good, "empty": bundle(t, x, &memSource{}, Filter{})}
	fs := unpack(t, good)
	ls := strings.SplitAfter(string(fileData(t, fs, ReportsFile)), "\n")
	if len(ls) > 1 {
		setFile(fs, ReportsFile, []byte(strings.Join(ls[1:], "")))
	}
	seeds["chain_break"] = pack(t, fs)
	fs = unpack(t, good)
	setFile(fs, ManifestFile, bytes.Replace(fileData(t, fs, ManifestFile), []byte("fuzz"), []byte("fuzZ"), 1))
	seeds["manifest_edit"] = pack(t, fs)
	return seeds
}

func FuzzVerify(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(b)
	}
	pub := testKey(f, 1).Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, key := range []ed25519.PublicKey{nil, pub} {
			res := Verify(bytes.NewReader(data), key)
			if res.OK == (res.FirstFailure != "") {
				t.Fatalf("OK %v with first failure %q", res.OK, res.FirstFailure)
			}
			if res.OK && (res.Manifest == nil || res.OriginVerified != (key != nil)) {
				t.Fatalf("OK without a manifest or with the wrong origin claim")
			}
		}
	})
}

// FuzzVerifyTar fuzzes the uncompressed archive: mutating gzip bytes mostly
// breaks the CRC, so this target is what reaches the tar, manifest and
// chain checks.
func FuzzVerifyTar(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(gunzip(f, b))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var buf bytes.Buffer
		gz := gzip.NewWriter(&buf)
		gz.Write(data)
		gz.Close()
		res := Verify(&buf, nil)
		if res.OK == (res.FirstFailure != "") {
			t.Fatalf("OK %v with first failure %q", res.OK, res.FirstFailure)
		}
	})
}

func gunzip(t testing.TB, b []byte) []byte {
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(gz)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestWriteFuzzCorpus regenerates testdata/fuzz/FuzzVerify when
// AUPGUARD_WRITE_FUZZ_CORPUS=1; otherwise it checks the corpus is there.
func TestWriteFuzzCorpus(t *testing.T) {
	seeds := fuzzSeeds(t)
	for _, target := range []string{"FuzzVerify", "FuzzVerifyTar"} {
		dir := filepath.Join("testdata", "fuzz", target)
		if os.Getenv("AUPGUARD_WRITE_FUZZ_CORPUS") != "1" {
			for name := range seeds {
				if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
					t.Errorf("seed corpus: %v (regenerate with AUPGUARD_WRITE_FUZZ_CORPUS=1)", err)
				}
			}
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range seeds {
			if target == "FuzzVerifyTar" {
				b = gunzip(t, b)
			}
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

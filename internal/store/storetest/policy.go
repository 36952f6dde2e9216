package storetest

import (
	"bytes"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/store"
)

// policyFiles is a bundle like the shipped one: Rego, JSON and a binary
// model file of about a megabyte holding every byte value.
func policyFiles(tag string) map[string][]byte {
	bin := make([]byte, 1<<20+7)
	for i := range bin {
		bin[i] = byte(i * 31)
	}
	return map[string][]byte{
		"aup/decision.rego": []byte("package aup\n# " + tag + "\n"),
		"aup/data.json":     []byte(`{"v":"` + tag + `"}`),
		"aup/model.bin":     bin,
		"aup/empty.txt":     {},
	}
}

func sameFiles(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for p, d := range a {
		e, ok := b[p]
		if !ok || !bytes.Equal(d, e) {
			return false
		}
	}
	return true
}

func testPolicyVersions(t *testing.T, s store.Store, c *Clock) {
	if _, err := s.PolicyVersion(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown version: %v, want ErrNotFound", err)
	}
	if _, err := s.PutPolicyVersion(ctx, "", policyFiles("x")); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("empty hash: %v, want ErrInvalid", err)
	}
	if _, err := s.PutPolicyVersion(ctx, "h", map[string][]byte{"": nil}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("empty path: %v, want ErrInvalid", err)
	}

	v1 := policyFiles("one")
	created, err := s.PutPolicyVersion(ctx, "h1", v1)
	if err != nil || !created {
		t.Fatalf("first put: created %v, %v", created, err)
	}
	at := c.Now()
	got, err := s.PolicyVersion(ctx, "h1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Hash != "h1" || !sameFiles(got.Files, v1) || !got.StoredAt.Equal(at) {
		t.Fatalf("read back: hash %q, %d files, same %v, stored %v (want %v)", got.Hash, len(got.Files), sameFiles(got.Files, v1), got.StoredAt, at)
	}

	// The same hash again (another replica, a reload, a restart): nothing
	// is written, the first writer's files and time stay.
	c.Advance(time.Hour)
	if created, err := s.PutPolicyVersion(ctx, "h1", policyFiles("other")); err != nil || created {
		t.Fatalf("second put: created %v, %v", created, err)
	}
	if got, err := s.PolicyVersion(ctx, "h1"); err != nil || !sameFiles(got.Files, v1) || !got.StoredAt.Equal(at) {
		t.Fatalf("after second put: %v, same files %v, stored %v", err, sameFiles(got.Files, v1), got.StoredAt)
	}

	// Hashes with key-structure characters stay apart; no files is a version too.
	for _, h := range []string{"a:b", "{a}", "a%3Ab"} {
		if created, err := s.PutPolicyVersion(ctx, h, map[string][]byte{"f": []byte(h)}); err != nil || !created {
			t.Fatalf("put %q: created %v, %v", h, created, err)
		}
	}
	for _, h := range []string{"a:b", "{a}", "a%3Ab"} {
		if got, err := s.PolicyVersion(ctx, h); err != nil || string(got.Files["f"]) != h {
			t.Fatalf("get %q: %v %q", h, err, got.Files["f"])
		}
	}
	if _, err := s.PutPolicyVersion(ctx, "none", nil); err != nil {
		t.Fatal(err)
	}
	if got, err := s.PolicyVersion(ctx, "none"); err != nil || len(got.Files) != 0 {
		t.Fatalf("version without files: %v %v", got, err)
	}

	// Replicas loading the same new version at once: one write.
	var wg sync.WaitGroup
	var n atomic.Int32
	files := policyFiles("race")
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			created, err := s.PutPolicyVersion(ctx, "h2", files)
			if err != nil {
				t.Error(err)
			}
			if created {
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	if n.Load() != 1 {
		t.Fatalf("%d concurrent puts created the version, want 1", n.Load())
	}
}

// testPolicyVersionsKept: retention sweeps and erasure never remove a
// policy version (reports kept for ever must still find theirs).
func testPolicyVersionsKept(t *testing.T, s store.Store, c *Clock, _ Dump) {
	if _, err := s.PutPolicyVersion(ctx, "h1", map[string][]byte{"aup/decision.rego": []byte("package aup\n")}); err != nil {
		t.Fatal(err)
	}
	r := report(c, "web", "alice", 1, "fraud")
	r.PolicyHash = "h1"
	add(t, s, r, noDecay)
	c.Advance(400 * 24 * time.Hour)
	sweepAll(t, s, store.SweepRequest{Retention: store.Retention{Default: time.Hour, Actions: time.Hour}, Holds: holdList(t, s), Now: c.Now()})
	if _, err := keeper(s).EraseUser(ctx, eraseReq("web", "alice", holdList(t, s))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PolicyVersion(ctx, "h1"); err != nil {
		t.Fatalf("policy version after sweep and erasure: %v", err)
	}
}

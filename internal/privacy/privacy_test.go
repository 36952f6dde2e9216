package privacy_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/enforce"
	"github.com/aupguard/aupguard/internal/evidence"
	"github.com/aupguard/aupguard/internal/privacy"
	"github.com/aupguard/aupguard/internal/redistest"
	"github.com/aupguard/aupguard/internal/store"
	_ "github.com/aupguard/aupguard/internal/store/all"
	"github.com/aupguard/aupguard/internal/store/storetest"
)

var ctx = context.Background()

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

var prefixN atomic.Int64

// stores runs fn on the embedded store and on a private Redis.
func stores(t *testing.T, fn func(t *testing.T, open func(now func() time.Time) store.Store)) {
	t.Run("embedded", func(t *testing.T) {
		fn(t, func(now func() time.Time) store.Store {
			s, err := store.Open(ctx, "bolt://"+filepath.Join(t.TempDir(), "a.db"), store.WithClock(now))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
	t.Run("redis", func(t *testing.T) {
		srv := redistest.Start(t)
		fn(t, func(now func() time.Time) store.Store {
			s, err := store.Open(ctx, srv.URLWithPrefix(fmt.Sprintf("%spv%d", srv.Prefix, prefixN.Add(1))), store.WithClock(now))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
	})
}

var repN atomic.Int64

func report(c *storetest.Clock, app, user string, cats ...string) store.Report {
	n := repN.Add(1)
	return store.Report{
		ID: fmt.Sprintf("rep-%06d", n), Time: c.Now(), App: app, User: user, Pseudonym: "ps-" + user,
		Source: "request", DecisionID: fmt.Sprintf("dec-%d", n), Action: "block", Categories: cats, Strike: 1,
		PolicyHash: "h1", Digest: "ab", Length: 10,
	}
}

func mustAdd(t *testing.T, s store.Store, r store.Report) {
	t.Helper()
	// As in the gateway, the version a report cites is stored before it.
	if _, err := s.PutPolicyVersion(ctx, r.PolicyHash, map[string][]byte{"aup/decision.rego": []byte("package aup\n")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddReport(ctx, r, store.Policy{}); err != nil {
		t.Fatal(err)
	}
}

func TestSweeper(t *testing.T) {
	stores(t, func(t *testing.T, open func(func() time.Time) store.Store) {
		c := storetest.NewClock()
		s := open(c.Now)
		ret := config.DefaultRetention()
		ret.Default = "30d"
		svc, err := privacy.New(s, privacy.Options{Retention: ret, Clock: c.Now, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.SeedHolds(ctx); err != nil {
			t.Fatal(err)
		}
		old := report(c, "web", "u1", "harassment")
		cse := report(c, "web", "u2", "child_sexual_exploitation")
		mustAdd(t, s, old)
		mustAdd(t, s, cse)
		c.Advance(29 * 24 * time.Hour)
		young := report(c, "web", "u1", "harassment")
		mustAdd(t, s, young)
		c.Advance(2 * 24 * time.Hour)
		res, err := svc.SweepOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Purged != 1 || res.Held != 1 || svc.Purged() != 1 || svc.LastSweep().IsZero() {
			t.Fatalf("sweep %+v, counter %d", res, svc.Purged())
		}
		page, _ := s.Reports(ctx, store.ReportQuery{})
		if len(page.Items) != 2 || page.Items[0].ID != young.ID || page.Items[1].ID != cse.ID {
			t.Fatalf("left %+v", page.Items)
		}
		// Seeding again (a restart) after an admin released the hold does
		// not put it back; the next sweep then purges the expired report.
		if err := svc.Release(ctx, store.Hold{Kind: store.HoldCategory, Category: "child_sexual_exploitation"}, "admin-1", "investigation closed"); err != nil {
			t.Fatal(err)
		}
		if err := svc.SeedHolds(ctx); err != nil {
			t.Fatal(err)
		}
		if res, _ := svc.SweepOnce(ctx); res.Purged != 1 || svc.Purged() != 2 {
			t.Fatalf("after release: %+v", res)
		}
	})
}

func TestRunStopsWithContext(t *testing.T) {
	c := storetest.NewClock()
	s, err := store.Open(ctx, "bolt://"+filepath.Join(t.TempDir(), "a.db"), store.WithClock(c.Now))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	svc, err := privacy.New(s, privacy.Options{Clock: c.Now, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { svc.Run(rctx); close(done) }()
	// The first pass seeds the configured hold.
	for i := 0; ; i++ {
		hs, _ := svc.HoldList(ctx)
		if len(hs) == 1 {
			break
		}
		if i > 2000 {
			t.Fatal("configured hold not seeded")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}

type fakeSpool struct {
	calls []string
}

func (f *fakeSpool) EraseUser(app, user string, keep func(*store.Report) bool) (int, []string, error) {
	f.calls = append(f.calls, app+"/"+user)
	return 2, []string{"user:" + app + ":" + user}, nil
}

func TestErase(t *testing.T) {
	stores(t, func(t *testing.T, open func(func() time.Time) store.Store) {
		c := storetest.NewClock()
		s := open(c.Now)
		sp := &fakeSpool{}
		svc, err := privacy.New(s, privacy.Options{Spool: sp, Clock: c.Now, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		mustAdd(t, s, report(c, "web", "zed-4411", "fraud"))
		mustAdd(t, s, report(c, "api", "zed-4411", "fraud"))
		if _, err := svc.Erase(ctx, "", "zed-4411", "admin-1", ""); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("erasure without reason: %v", err)
		}
		out, err := svc.Erase(ctx, "", "zed-4411", "admin-1", "request #7")
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != 2 || len(sp.calls) != 2 || out[0].Spooled != 2 || out[0].Erasure.Reports != 1 || out[1].Erasure.Reports != 1 {
			t.Fatalf("erasure %+v, spool calls %v", out, sp.calls)
		}
		d, _ := svc.SubjectDigest(ctx, "api", "zed-4411")
		if out[0].App != "api" || out[0].Subject != d || !strings.HasPrefix(d, "hmac-sha256:") || strings.Contains(d, "zed") {
			t.Fatalf("subject %q (digest %q)", out[0].Subject, d)
		}
		audit, _ := s.Audit(ctx, store.AuditQuery{})
		for _, a := range audit.Items {
			b, _ := json.Marshal(a)
			if bytes.Contains(b, []byte("zed-4411")) {
				t.Fatalf("audit keeps the id: %s", b)
			}
		}
		if len(audit.Items) != 2 || audit.Items[0].Counts["spooled_reports"] != 2 || audit.Items[0].Action != store.ActErase {
			t.Fatalf("audit %+v", audit.Items)
		}
		if _, err := svc.Erase(ctx, "", "zed-4411", "admin-1", "again"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second erasure: %v", err)
		}
	})
}

// readBundle returns the JSON lines of one file of a bundle.
func readBundle(t *testing.T, b []byte, name string) []map[string]any {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s not in bundle: %v", name, err)
		}
		if h.Name != name {
			continue
		}
		var out []map[string]any
		sc := bufio.NewScanner(tr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
		return out
	}
}

func TestSubjectExportVerifies(t *testing.T) {
	stores(t, func(t *testing.T, open func(func() time.Time) store.Store) {
		c := storetest.NewClock()
		s := open(c.Now)
		svc, err := privacy.New(s, privacy.Options{Clock: c.Now, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.SeedHolds(ctx); err != nil {
			t.Fatal(err)
		}
		mine := []store.Report{report(c, "web", "subj", "harassment"), report(c, "web", "subj", "child_sexual_exploitation")}
		for _, r := range mine {
			mustAdd(t, s, r)
		}
		mustAdd(t, s, report(c, "web", "other", "harassment"))
		mustAdd(t, s, report(c, "api", "subj", "harassment")) // another app's user of the same id
		if _, _, err := s.ApplyAction(ctx, store.Action{App: "web", User: "subj", Actor: "desk-1", Action: store.ActNote, Reason: "phoned"}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.ApplyAction(ctx, store.Action{App: "web", User: "subj", Actor: "desk-1", Action: store.ActBan, Reason: "csam"}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Hold(ctx, store.Hold{Kind: store.HoldUser, App: "web", User: "subj", Actor: "admin-1", Reason: "police request"}); err != nil {
			t.Fatal(err)
		}
		pub, key, _ := ed25519.GenerateKey(nil)
		var buf bytes.Buffer
		m, err := svc.Export(ctx, &buf, &evidence.Exporter{Key: key, Now: c.Now}, nil, "web", "subj")
		if err != nil {
			t.Fatal(err)
		}
		if res := evidence.Verify(bytes.NewReader(buf.Bytes()), pub); !res.OK || !res.OriginVerified {
			t.Fatalf("verify: %s", res.Summary)
		}
		if m.Filter.User != "subj" || m.Filter.App != "web" || m.Counts.Reports != 2 {
			t.Fatalf("manifest %+v", m)
		}
		reps := readBundle(t, buf.Bytes(), evidence.ReportsFile)
		if len(reps) != 2 || reps[0]["id"] != mine[0].ID || reps[1]["id"] != mine[1].ID {
			t.Fatalf("reports %v", reps)
		}
		for _, r := range reps {
			if r["hold"] != "user" { // the user hold wins over the category hold
				t.Fatalf("report hold %v", r["hold"])
			}
		}
		acts := readBundle(t, buf.Bytes(), evidence.ActionsFile)
		var kinds []string
		for _, a := range acts {
			kinds = append(kinds, fmt.Sprint(a["action"]))
		}
		if got := strings.Join(kinds, ","); got != "note,ban,hold,standing" {
			t.Fatalf("actions %s", got)
		}
		if st := acts[3]; st["before"] != "banned" || !strings.Contains(fmt.Sprint(st["reason"]), "2 reports") || st["hold"] == nil {
			t.Fatalf("standing record %v", st)
		}
		// Without an app: every app that knows the id.
		buf.Reset()
		m, err = svc.Export(ctx, &buf, &evidence.Exporter{Key: key, Now: c.Now}, nil, "", "subj")
		if err != nil {
			t.Fatal(err)
		}
		if res := evidence.Verify(bytes.NewReader(buf.Bytes()), pub); !res.OK || m.Counts.Reports != 3 {
			t.Fatalf("all apps: %s, %+v", res.Summary, m.Counts)
		}
	})
}

// storeSource is the plain export source (as the gateway's), for MarkHolds.
type storeSource struct{ st store.Store }

func (s storeSource) Reports(ctx context.Context, f evidence.Filter) iter.Seq2[store.Report, error] {
	return func(yield func(store.Report, error) bool) {
		s.st.EachReport(ctx, f.Since, f.Until, func(r store.Report) error {
			if !yield(r, nil) {
				return errors.New("stop")
			}
			return nil
		})
	}
}

func (s storeSource) Actions(ctx context.Context, f evidence.Filter) iter.Seq2[store.Action, error] {
	return func(yield func(store.Action, error) bool) {
		s.st.EachAction(ctx, f.Since, f.Until, func(a store.Action) error {
			if !yield(a, nil) {
				return errors.New("stop")
			}
			return nil
		})
	}
}

func (s storeSource) Policy(ctx context.Context, hash string) (evidence.PolicyVersion, error) {
	return evidence.StoreSource{Store: s.st}.Policy(ctx, hash)
}

func TestMarkHoldsInExport(t *testing.T) {
	c := storetest.NewClock()
	s, err := store.Open(ctx, "bolt://"+filepath.Join(t.TempDir(), "a.db"), store.WithClock(c.Now))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	svc, _ := privacy.New(s, privacy.Options{Clock: c.Now, Logger: quiet})
	svc.SeedHolds(ctx)
	mustAdd(t, s, report(c, "web", "a", "child_sexual_exploitation"))
	mustAdd(t, s, report(c, "web", "b", "fraud"))
	pub, key, _ := ed25519.GenerateKey(nil)
	var buf bytes.Buffer
	if _, err := (&evidence.Exporter{Key: key}).Export(ctx, &buf, svc.MarkHolds(storeSource{s}), evidence.Filter{}); err != nil {
		t.Fatal(err)
	}
	if res := evidence.Verify(bytes.NewReader(buf.Bytes()), pub); !res.OK {
		t.Fatal(res.Summary)
	}
	reps := readBundle(t, buf.Bytes(), evidence.ReportsFile)
	if reps[0]["hold"] != "category:child_sexual_exploitation" || reps[1]["hold"] != nil {
		t.Fatalf("holds in bundle: %v / %v", reps[0]["hold"], reps[1]["hold"])
	}
	acts := readBundle(t, buf.Bytes(), evidence.ActionsFile)
	if len(acts) != 1 || acts[0]["action"] != "hold" || acts[0]["hold"] != "category:child_sexual_exploitation" {
		t.Fatalf("hold record in bundle: %v", acts)
	}
}

// The gateway's enforcer is the spool eraser erasures call.
var _ privacy.SpoolEraser = (*enforce.Enforcer)(nil)

package enforce_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/enforce"
	"github.com/aupguard/aupguard/internal/store"
)

// TestEraseUserFromSpool: an erasure while the store is down removes the
// user's spooled reports from the files (no byte of them left), keeps
// everyone else's, and the replay then records only those.
func TestEraseUserFromSpool(t *testing.T) {
	inner := newEmbedded(t, nil)
	f := &flaky{Store: inner}
	dir := t.TempDir()
	e := newEnforcer(t, f, enforce.Options{SpoolDir: dir})
	f.down.Store(true)
	var keep []string
	var held store.Report
	for i := range 7 {
		user := "gone-user-51c2"
		if i%2 == 0 {
			user = "stays"
		}
		r := violation("web", user, 0.1)
		if i == 6 { // a report on legal hold stays in the spool
			r.User, r.Categories = "gone-user-51c2", []string{"child_sexual_exploitation"}
			held = r
		}
		if r.User == "stays" || i == 6 {
			keep = append(keep, r.ID)
		}
		if _, err := e.Report(ctx, r, "ban"); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := e.Standing(ctx, "web", "gone-user-51c2"); st.Status != store.Banned {
		t.Fatalf("local escalation while down: %+v", st)
	}
	removed, keys, err := e.EraseUser("web", "gone-user-51c2", func(r *store.Report) bool { return r.ID == held.ID })
	if err != nil {
		t.Fatal(err)
	}
	if removed != 3 || len(keys) != 1 || e.Spooled() != 4 {
		t.Fatalf("removed %d, keys %v, spooled %d", removed, keys, e.Spooled())
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, p := range files {
		b, _ := os.ReadFile(p)
		// Only the held report may still name the user.
		if n := bytes.Count(b, []byte(`"user":"gone-user-51c2"`)); n > 0 && !bytes.Contains(b, []byte(held.ID)) || n > 1 {
			t.Fatalf("%s still holds the erased user (%d times)", p, n)
		}
	}
	if st, _ := e.Standing(ctx, "web", "gone-user-51c2"); st.Status != store.Active {
		t.Fatalf("cached standing survives erasure: %+v", st)
	}
	f.down.Store(false)
	eventually(t, 10*time.Second, "spool replayed", func() bool { return e.Spooled() == 0 })
	n, ids := countReports(t, inner)
	if n != 4 {
		t.Fatalf("store has %d reports, want the 4 kept", n)
	}
	for _, id := range keep {
		if ids[id] != 1 {
			t.Fatalf("kept report %s stored %d times", id, ids[id])
		}
	}
}

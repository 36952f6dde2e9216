package scale

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/desk"
	"github.com/aupguard/aupguard/internal/evidence"
	"github.com/aupguard/aupguard/internal/privacy"
	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/store/embedded"
	"github.com/aupguard/aupguard/internal/store/redisstore"
)

type meter struct {
	c    Config
	o    *opened
	dir  string
	key  ed25519.PrivateKey
	now  time.Time
	left int // reports in the store after the last step's sweep and erasure
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func (m *meter) logf(format string, args ...any) {
	fmt.Fprintf(m.c.Log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

const span = 30 * 24 * time.Hour // report times spread over the last 30 days

// load adds n generated reports over users users through the batch path,
// with Writers writers, then a reviewer dismisses every 200th user's reports.
func (m *meter) load(ctx context.Context, seed uint64, n, users int) error {
	size := 1000 // a pipeline per batch (Redis)
	if m.c.Store == "embedded" {
		size = 5000 // a transaction per batch: fewer commits of the touched pages
	}
	ch := make(chan []store.Report, m.c.Writers)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(ch)
		g := newGen(seed, m.now, span)
		for left := n; left > 0; left -= size {
			b := make([]store.Report, min(size, left))
			for i := range b {
				b[i] = g.report(users)
			}
			select {
			case ch <- b:
			case <-ctx.Done():
				return
			}
		}
	}()
	var done atomic.Int64
	errs := make(chan error, m.c.Writers)
	var wg sync.WaitGroup
	for range m.c.Writers {
		wg.Go(func() {
			for b := range ch {
				if err := m.o.batch(ctx, b); err != nil {
					errs <- err
					cancel()
					return
				}
				if d := done.Add(int64(len(b))); d%int64(100*size) < int64(size) {
					m.logf("%s: loaded %d/%d", m.c.Store, d, n)
				}
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	for u := 1; u < users; u += 200 {
		_, _, err := m.o.st.ApplyAction(ctx, store.Action{App: App, User: userID(u), Actor: "desk-1", Action: store.ActDismiss, Reason: "scale: reviewed"})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return nil
}

func (m *meter) measure(ctx context.Context, row *Row) error {
	m.logf("%s: sizes", m.c.Store)
	sz, err := m.o.size(ctx, row.Users)
	if err != nil {
		return err
	}
	row.Reports, row.Actions, row.TotalBytes = sz.reports, sz.actions, sz.total
	row.BytesPerUser = float64(sz.userPart) / float64(row.Users)
	row.BytesPerReport = float64(sz.total-sz.userPart) / float64(max(row.Reports, 1))

	m.logf("%s: desk pages", m.c.Store)
	if err := m.desk(ctx, row); err != nil {
		return err
	}
	m.logf("%s: write throughput", m.c.Store)
	written, err := m.writes(ctx, row)
	if err != nil {
		return err
	}
	m.logf("%s: export and verify", m.c.Store)
	if err := m.export(ctx, row); err != nil {
		return err
	}
	m.logf("%s: retention sweep", m.c.Store)
	svc, err := privacy.New(m.o.st, privacy.Options{Logger: quiet,
		Retention: config.Retention{Default: "29d", Actions: "730d", SweepBatch: 500}})
	if err != nil {
		return err
	}
	t0 := time.Now()
	res, err := svc.SweepOnce(ctx)
	if err != nil {
		return err
	}
	row.SweepTime, row.SweepPurged = time.Since(t0), res.Purged
	row.SweepRead = row.Reports + written + row.Actions
	m.logf("%s: erasure", m.c.Store)
	erased, err := m.erase(ctx, svc, row)
	if err != nil {
		return err
	}
	m.left = row.Reports + written - res.Purged - erased
	return nil
}

const token = "scale-auditor-token-0123456789"

// desk times the queue's first page and case pages through the desk's
// own handler (routing, auth, store reads, JSON), no network.
func (m *meter) desk(ctx context.Context, row *Row) error {
	gin.SetMode(gin.ReleaseMode)
	d, err := desk.New(desk.Options{Store: m.o.st, Logger: quiet, Apps: []string{App},
		SessionKey: []byte("scale-session-key-0123456789abcdef"),
		Tokens:     []config.AdminToken{{Name: "scale", Role: desk.RoleAuditor, Token: token}}})
	if err != nil {
		return err
	}
	h := d.Handler()
	errNoRecord := errors.New("no record")
	get := func(path string) (time.Duration, error) {
		req := httptest.NewRequestWithContext(ctx, http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		t0 := time.Now()
		h.ServeHTTP(w, req)
		el := time.Since(t0)
		if w.Code == http.StatusNotFound && strings.HasPrefix(path, "/admin/v1/users/") {
			return 0, errNoRecord // a user the generator never gave a report
		}
		if w.Code != http.StatusOK {
			return 0, fmt.Errorf("scale: GET %s: %d %s", path, w.Code, strings.TrimSpace(w.Body.String()))
		}
		return el, nil
	}
	var qs []time.Duration
	deadline := time.Now().Add(time.Minute)
	for i := 0; i < m.c.QueueCalls && (i < 3 || time.Now().Before(deadline)); i++ {
		el, err := get("/admin/v1/queue")
		if err != nil {
			return err
		}
		qs = append(qs, el)
	}
	row.QueueP50, row.QueueMax = pct(qs, 50), pct(qs, 100)
	g := newGen(99, m.now, span)
	var cs []time.Duration
	for tries := 0; len(cs) < m.c.CaseCalls && tries < 10*m.c.CaseCalls; tries++ {
		el, err := get("/admin/v1/users/" + userID(g.user(row.Users)))
		if errors.Is(err, errNoRecord) {
			continue
		}
		if err != nil {
			return err
		}
		cs = append(cs, el)
	}
	row.CaseP50, row.CaseP99 = pct(cs, 50), pct(cs, 99)
	return nil
}

func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min((len(s)*p)/100, len(s)-1)]
}

// writes runs Writers writers calling AddReport (one report per call, as
// the gateway records them) for WriteFor; returns the reports written.
func (m *meter) writes(ctx context.Context, row *Row) (int, error) {
	var n atomic.Int64
	var first error
	var mu sync.Mutex
	var wg sync.WaitGroup
	t0 := time.Now()
	end := t0.Add(m.c.WriteFor)
	for w := range m.c.Writers {
		wg.Go(func() {
			g := newGen(uint64(1000+w)+uint64(row.Reports), m.now, span)
			for time.Now().Before(end) {
				if _, err := m.o.st.AddReport(ctx, g.report(row.Users), policy); err != nil {
					mu.Lock()
					first = cmpErr(first, err)
					mu.Unlock()
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	row.WriteRate = float64(n.Load()) / time.Since(t0).Seconds()
	return int(n.Load()), first
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// export writes a bundle of the whole record through the evidence
// exporter and the store source, then verifies it, watching the heap.
func (m *meter) export(ctx context.Context, row *Row) error {
	path := filepath.Join(m.dir, "bundle.tar.gz")
	defer os.Remove(path)
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 1<<20)
	x := &evidence.Exporter{Key: m.key, TempDir: m.dir, Generator: "aupscale"}
	stop := peakHeap()
	t0 := time.Now()
	man, err := x.Export(ctx, bw, evidence.StoreSource{Store: m.o.st}, evidence.Filter{})
	if err == nil {
		err = bw.Flush()
	}
	el := time.Since(t0)
	row.ExportHeap = stop()
	if err != nil {
		return err
	}
	row.ExportRate = float64(man.Counts.Reports) / el.Seconds()
	if fi, err := f.Stat(); err == nil {
		row.BundleBytes = fi.Size()
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	stop = peakHeap()
	t0 = time.Now()
	res := evidence.Verify(bufio.NewReaderSize(f, 1<<20), m.key.Public().(ed25519.PublicKey))
	el = time.Since(t0)
	row.VerifyHeap = stop()
	if !res.OK {
		return fmt.Errorf("scale: the bundle does not verify: %s", res.FirstFailure)
	}
	row.VerifyRate = float64(man.Counts.Reports) / el.Seconds()
	return nil
}

// peakHeap samples the heap in use until stop is called and returns the peak.
func peakHeap() (stop func() uint64) {
	runtime.GC()
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapInuse > peak.Load() {
			peak.Store(ms.HeapInuse)
		}
	}
	wg.Go(func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sample()
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		sample()
		return peak.Load()
	}
}

// erase erases Erasures ordinary (not hot) users through the privacy
// service, as an erasure request does; returns the reports removed.
func (m *meter) erase(ctx context.Context, svc *privacy.Service, row *Row) (int, error) {
	hot := max(row.Users/100, 1)
	g := newGen(7+uint64(row.Reports), m.now, span)
	var ds []time.Duration
	removed := 0
	for range m.c.Erasures {
		u := hot + g.rng.IntN(max(row.Users-hot, 1))
		t0 := time.Now()
		res, err := svc.Erase(ctx, App, userID(u), "scale", "scale benchmark: erasure time")
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return removed, err
		}
		ds = append(ds, time.Since(t0))
		for _, r := range res {
			removed += r.Erasure.Reports
		}
	}
	row.EraseP50, row.EraseMax = pct(ds, 50), pct(ds, 100)
	return removed, nil
}

type sizes struct {
	reports, actions int
	total, userPart  int64
}

// Buckets keyed by user (records and the per-user indexes) are the users'
// part of the embedded file; the rest (reports, actions and their global
// indexes) the reports'.
var userBuckets = []string{"standing", "userapps", "pseud", "queue", "ruser", "auser"}

func boltSize(s *embedded.Store) (sizes, error) {
	u, err := s.Usage()
	if err != nil {
		return sizes{}, err
	}
	sz := sizes{reports: u.Buckets["reports"].Keys, actions: u.Buckets["actions"].Keys, total: u.FileBytes}
	for _, b := range userBuckets {
		sz.userPart += u.Buckets[b].Bytes
	}
	return sz, nil
}

// redisSize is used_memory over the empty server's; the users' part is
// every key of a user's slot (sampled with MEMORY USAGE over 500 users)
// plus the global indexes with an entry per user, the reports' part the rest.
func redisSize(ctx context.Context, s *redisstore.Store, base int64, users int) (sizes, error) {
	var sz sizes
	used, err := usedMemory(ctx, s)
	if err != nil {
		return sz, err
	}
	sz.total = used - base
	r, a, err := s.Counts(ctx)
	if err != nil {
		return sz, err
	}
	sz.reports, sz.actions = int(r), int(a)
	c := s.Client()
	g := newGen(5, time.Now(), span)
	const sample = 500
	var per int64
	for range sample {
		for _, k := range s.UserKeys(App, userID(g.rng.IntN(users))) {
			n, err := c.MemoryUsage(ctx, k).Result()
			if err != nil && !errors.Is(err, redis.Nil) {
				return sz, err
			}
			per += n
		}
	}
	sz.userPart = per * int64(users) / sample
	for _, k := range s.UserIndexKeys() {
		n, err := c.MemoryUsage(ctx, k, 1000).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return sz, err
		}
		sz.userPart += n
	}
	return sz, nil
}

func usedMemory(ctx context.Context, s *redisstore.Store) (int64, error) {
	info, err := s.Client().Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("scale: no used_memory in INFO")
}

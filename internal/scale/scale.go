// Package scale measures how the stores behave as the record grows: it
// loads millions of reports straight into a store (its batch path, the
// same rules as AddReport), then times what the desk, the export, the
// retention sweeper and erasure do on that record, through their real code
// paths. cmd/aupscale runs it; docs/benchmarks.md keeps the figures.
package scale

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/store/embedded"
	"github.com/aupguard/aupguard/internal/store/redisstore"
)

// Config says what to measure.
type Config struct {
	Store   string // "redis" or "embedded"
	Steps   []int  // record sizes (reports) to measure at, ascending
	Users   int    // users at the last step; earlier steps scale down with the reports
	Writers int    // concurrent writers, for loading and for the write throughput
	TempDir string // the store file, Redis's dir and the bundles go under it
	// WriteFor is how long the write throughput runs (default 5s);
	// Calls how many queue and case pages are timed (default 50 and 200);
	// Erasures how many users are erased per step (default 3).
	WriteFor   time.Duration
	QueueCalls int
	CaseCalls  int
	Erasures   int
	Log        io.Writer // progress; nil discards
	// StreamNodeBytes is Redis's stream-node-max-bytes (0: its default).
	StreamNodeBytes int
}

// Row is one store at one record size.
type Row struct {
	Store            string
	Reports, Users   int // in the store when measured (before sweep and erasure)
	Actions          int // audit-log actions (automatic escalations, reviews)
	LoadRate         float64
	TotalBytes       int64 // Redis used_memory over an empty server; the embedded file's size
	BytesPerReport   float64
	BytesPerUser     float64
	QueueP50         time.Duration
	QueueMax         time.Duration
	CaseP50, CaseP99 time.Duration
	WriteRate        float64 // reports/s through AddReport with Writers writers
	ExportRate       float64 // reports/s into the bundle
	ExportHeap       uint64  // peak Go heap in use during the export
	BundleBytes      int64
	VerifyRate       float64 // reports/s through evidence.Verify
	VerifyHeap       uint64
	SweepTime        time.Duration // one whole retention pass
	SweepRead        int           // reports and actions the pass read
	SweepPurged      int
	EraseP50         time.Duration
	EraseMax         time.Duration
}

// opened is a store under measurement.
type opened struct {
	st    store.Store
	batch func(ctx context.Context, rs []store.Report) error
	size  func(ctx context.Context, users int) (sizes, error)
	close func()
}

func (c *Config) defaults() {
	if c.Writers <= 0 {
		c.Writers = 8
	}
	if c.WriteFor <= 0 {
		c.WriteFor = 5 * time.Second
	}
	if c.QueueCalls <= 0 {
		c.QueueCalls = 50
	}
	if c.CaseCalls <= 0 {
		c.CaseCalls = 200
	}
	if c.Erasures <= 0 {
		c.Erasures = 3
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
}

// Run loads the store step by step and measures at each step; rows come
// back in step order.
func Run(ctx context.Context, c Config) ([]Row, error) {
	c.defaults()
	if len(c.Steps) == 0 || c.Users <= 0 {
		return nil, fmt.Errorf("scale: need steps and users")
	}
	dir, err := os.MkdirTemp(c.TempDir, "aupscale-"+c.Store+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	o, err := open(ctx, c.Store, dir, c.StreamNodeBytes)
	if err != nil {
		return nil, err
	}
	defer o.close()
	if _, err := o.st.PutPolicyVersion(ctx, PolicyHash, map[string][]byte{"aup/decision.rego": []byte("package aup\n")}); err != nil {
		return nil, err
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	m := &meter{c: c, o: o, dir: dir, key: key, now: time.Now()}
	var rows []Row
	loaded := 0
	last := c.Steps[len(c.Steps)-1]
	for i, n := range c.Steps {
		users := max(int(int64(c.Users)*int64(n)/int64(last)), 1)
		m.logf("%s: loading reports %d..%d over %d users", c.Store, loaded, n, users)
		row := Row{Store: c.Store, Users: users}
		t0 := time.Now()
		if err := m.load(ctx, uint64(i+1), n-loaded, users); err != nil {
			return rows, err
		}
		row.LoadRate = float64(n-loaded) / time.Since(t0).Seconds()
		if err := m.measure(ctx, &row); err != nil {
			return rows, err
		}
		loaded = m.left
		rows = append(rows, row)
		m.logf("%s: measured %+v", c.Store, row) // kept in the log should a later step fail
	}
	return rows, nil
}

func open(ctx context.Context, kind, dir string, streamNodeBytes int) (*opened, error) {
	quiet := store.Options{Clock: time.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	switch kind {
	case "embedded":
		path := filepath.Join(dir, "aupguard.db")
		s, err := embedded.Open(path, time.Second, quiet)
		if err != nil {
			return nil, err
		}
		return &opened{
			st: s,
			batch: func(ctx context.Context, rs []store.Report) error {
				_, err := s.AddReports(ctx, rs, policy)
				return err
			},
			size:  func(ctx context.Context, users int) (sizes, error) { return boltSize(s) },
			close: func() { s.Close() },
		}, nil
	case "redis":
		srv, err := startRedis(ctx, dir, streamNodeBytes)
		if err != nil {
			return nil, err
		}
		s, err := redisstore.OpenURL(ctx, srv.url(), quiet)
		if err != nil {
			srv.stop()
			return nil, err
		}
		base, err := usedMemory(ctx, s)
		if err != nil {
			s.Close()
			srv.stop()
			return nil, err
		}
		return &opened{
			st: s,
			batch: func(ctx context.Context, rs []store.Report) error {
				_, err := s.AddReports(ctx, rs, policy)
				return err
			},
			size: func(ctx context.Context, users int) (sizes, error) {
				return redisSize(ctx, s, base, users)
			},
			close: func() { s.Close(); srv.stop() },
		}, nil
	}
	return nil, fmt.Errorf("scale: unknown store %q (want redis or embedded)", kind)
}

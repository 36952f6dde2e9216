// Package embedded is the single-file store (bbolt): the default, for one
// gateway process on one machine. Every write is one bbolt transaction, so
// AddReport and ApplyAction are atomic; bbolt's file lock keeps a second
// process out (Open fails with store.ErrLocked after the lock timeout).
//
// URL: bolt://PATH[?timeout=DURATION] — PATH relative to the working
// directory (bolt://./data/aupguard.db) or absolute (bolt:///var/lib/aupguard/db);
// timeout is how long Open waits for the file lock (default 1s).
package embedded

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/aupguard/aupguard/internal/store"
)

func init() {
	store.Register("bolt", func(ctx context.Context, u string, o store.Options) (store.Store, error) {
		return OpenURL(u, o)
	})
}

// DefaultURL is the store of a default configuration.
const DefaultURL = "bolt://./data/aupguard.db"

// Store is the bbolt store.
type Store struct {
	// The compliance records' methods (statements, appeals, notices), on
	// this store's record table (compliance.go).
	store.ComplianceOn
	// dbMu guards the db handle itself: erasure compacts the file into a
	// fresh one and swaps it in (bbolt leaves freed pages' bytes on disk).
	dbMu sync.RWMutex
	db   *bolt.DB
	path string
	// reopens counts the reopenings that shed bbolt's page map (shed.go);
	// shedAt, when set (tests), replaces reopenEvery.
	reopens    atomic.Int64
	shedAt     int64
	shedFailed bool // under dbMu: a reopening failed, the handle stays closed
	now        func() time.Time
	opts       store.Options

	mu     sync.Mutex
	subs   map[*sub]struct{}
	closed bool

	rlMu sync.Mutex
	tats map[string]int64
	auth map[string]authRec // failed authentications (authfail.go), under rlMu
}

type sub struct {
	ch     chan store.Change
	missed bool
}

var _ store.Store = (*Store)(nil)

// OpenURL opens a bolt:// URL.
func OpenURL(raw string, o store.Options) (*Store, error) {
	rest, ok := strings.CutPrefix(raw, "bolt://")
	if !ok {
		return nil, fmt.Errorf("%w: %q is not a bolt:// URL", store.ErrUnsupported, raw)
	}
	path, query, _ := strings.Cut(rest, "?")
	timeout := time.Second
	for _, kv := range strings.Split(query, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "timeout":
			d, err := time.ParseDuration(v)
			if err != nil {
				return nil, fmt.Errorf("%w: bolt timeout %q: %v", store.ErrInvalid, v, err)
			}
			timeout = d
		default:
			return nil, fmt.Errorf("%w: unknown bolt URL parameter %q", store.ErrInvalid, k)
		}
	}
	if path == "" {
		return nil, fmt.Errorf("%w: bolt URL without a path", store.ErrInvalid)
	}
	return Open(path, timeout, o)
}

// Open opens (creating if needed) the store file at path, waiting up to
// lockTimeout for another process to release it.
func Open(path string, lockTimeout time.Duration, o store.Options) (*Store, error) {
	if o.Clock == nil {
		o = store.BuildOptions(func(x *store.Options) { *x = o })
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("embedded store: %w", err)
	}
	if lockTimeout <= 0 {
		lockTimeout = time.Second
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s is held by another process (is another aupguard running on it? use the admin API instead); waited %s", store.ErrLocked, path, lockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("embedded store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		fresh := tx.Bucket(bQueue) == nil
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if fresh {
			return buildQueue(tx)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("embedded store %s: %w", path, err)
	}
	s := &Store{db: db, path: path, now: o.Clock, opts: o, subs: map[*sub]struct{}{}, tats: map[string]int64{}}
	s.ComplianceOn = store.ComplianceOn{T: records{s}}
	return s, nil
}

func (s *Store) Ping(ctx context.Context) error {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return store.ErrClosed
	}
	return s.view(func(tx *bolt.Tx) error { return nil })
}

func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for sb := range s.subs {
		close(sb.ch)
		delete(s.subs, sb)
	}
	s.mu.Unlock()
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	return s.db.Close()
}

func (s *Store) view(fn func(*bolt.Tx) error) error {
	s.dbMu.RLock()
	defer s.dbMu.RUnlock()
	return s.db.View(fn)
}

func (s *Store) update(fn func(*bolt.Tx) error) error {
	s.dbMu.RLock()
	err := s.db.Update(fn)
	due := pagesAllocated(s.db) >= s.reopenAfter()
	s.dbMu.RUnlock()
	if due {
		s.shedIfDue()
	}
	return err
}

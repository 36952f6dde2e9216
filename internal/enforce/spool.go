package enforce

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aupguard/aupguard/internal/store"
)

// spool is the outage buffer: append-only files of one JSON report per
// line in dir, each line fsync'd before Report returns. The replayer closes
// the file being written (new reports start a new file), replays closed
// files oldest first and deletes a file only when every line in it was
// accepted by the store. A file interrupted mid-replay is replayed again
// from its start: the lines already accepted are duplicates by id and
// change nothing. One spool directory belongs to one process.
//
// File names: spool-<unix nanos>-<pid>.jsonl, so they sort by age.
type spool struct {
	dir string

	// replayMu keeps an erasure and a replay apart: a replay must not add
	// (and then delete) a file an erasure is rewriting.
	replayMu sync.Mutex

	mu    sync.Mutex
	f     *os.File
	name  string
	count int // lines in files not yet replayed
}

func openSpool(dir string) (*spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("enforce: spool dir: %w", err)
	}
	s := &spool{dir: dir}
	files, err := s.files()
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		n, _ := countLines(f)
		s.count += n
	}
	return s, nil
}

func countLines(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	for sc.Scan() {
		n++
	}
	return n, sc.Err()
}

// files lists the spool files, oldest first.
func (s *spool) files() ([]string, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("enforce: spool: %w", err)
	}
	var out []string
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, "spool-") && strings.HasSuffix(n, ".jsonl") {
			out = append(out, filepath.Join(s.dir, n))
		}
	}
	sort.Strings(out)
	return out, nil
}

func (s *spool) append(r store.Report) error {
	line, err := json.Marshal(r)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		name := filepath.Join(s.dir, fmt.Sprintf("spool-%020d-%d.jsonl", time.Now().UnixNano(), os.Getpid()))
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		// The new file's directory entry must survive a crash too.
		if d, err := os.Open(s.dir); err == nil {
			d.Sync()
			d.Close()
		}
		s.f, s.name = f, name
	}
	_, err = s.f.Write(line)
	if err == nil {
		err = s.f.Sync()
	}
	if err != nil {
		// Never append after a possibly partial line: start a new file next
		// time (the replayer skips the torn line).
		s.f.Close()
		s.f, s.name = nil, ""
		return err
	}
	s.count++
	return nil
}

// settle resets the pending count once no spool file is left, so a count
// that drifted (a line written but its fsync failed) cannot keep the
// replayer busy.
func (s *spool) settle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f != nil {
		return
	}
	if files, err := s.files(); err == nil && len(files) == 0 {
		s.count = 0
	}
}

// closedFiles lists the spool files no one is appending to: a file
// created by an append after rotate must not be replayed (and deleted)
// while it still grows.
func (s *spool) closedFiles() ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	files, err := s.files()
	if err != nil {
		return nil, err
	}
	out := files[:0]
	for _, f := range files {
		if f != s.name {
			out = append(out, f)
		}
	}
	return out, nil
}

// rotate closes the file being written so the replayer may take it.
func (s *spool) rotate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f != nil {
		s.f.Close()
		s.f, s.name = nil, ""
	}
}

func (s *spool) pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

func (s *spool) done(n int) {
	s.mu.Lock()
	s.count -= n
	s.mu.Unlock()
}

func (s *spool) close() { s.rotate() }

// replayFile adds every report of one file; the file is removed only when
// all were accepted.
func (e *Enforcer) replayFile(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	n := 0
	for sc.Scan() {
		n++
		var r store.Report
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			// A torn last line from a crash mid-write: the report was never
			// acknowledged to anyone, nothing to replay.
			e.log.Error("spool: unreadable line skipped", "file", path, "line", n, "err", err)
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, e.opt.StoreTimeout)
		res, err := e.st.AddReport(sctx, r, e.policy)
		cancel()
		if errors.Is(err, store.ErrInvalid) {
			e.log.Error("spool: invalid report dropped", "id", r.ID, "err", err)
			e.m.SpoolInvalid.Add(1)
			continue
		}
		if err != nil {
			f.Close()
			return err
		}
		e.set(r.App, r.User, res.Standing, false)
		if !res.Duplicate { // a line of a file interrupted mid-replay counts once
			e.m.Replayed.Add(1)
			e.countEscalation(res)
		}
	}
	err = sc.Err()
	f.Close()
	if err != nil {
		return err
	}
	if err := os.Remove(path); err != nil {
		return err
	}
	e.spool.done(n)
	return nil
}

func (e *Enforcer) replayLoop(ctx context.Context) {
	defer e.wg.Done()
	backoff := e.opt.ReplayBackoff
	var nextTry time.Time // after a failure, no attempt before this
	for {
		// Wake on a kick (start, a new spooled report, store back) or,
		// with reports waiting, when the backoff has passed.
		var wait <-chan time.Time
		var timer *time.Timer
		if e.spool.pending() > 0 {
			timer = time.NewTimer(max(time.Until(nextTry), 0))
			wait = timer.C
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case <-e.replayNow:
		case <-wait:
		}
		if timer != nil {
			timer.Stop()
		}
		// A known-good store (the health check saw it come back) skips the
		// rest of the backoff.
		if e.spool.pending() <= 0 || (time.Now().Before(nextTry) && !e.up.Load()) {
			continue
		}
		err := e.replay(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			e.markDown("replay", err)
			nextTry = time.Now().Add(backoff)
			backoff = min(backoff*2, 10*time.Second)
			continue
		}
		nextTry, backoff = time.Time{}, e.opt.ReplayBackoff
		e.spool.settle()
	}
}

func (e *Enforcer) replay(ctx context.Context) error {
	e.spool.replayMu.Lock()
	defer e.spool.replayMu.Unlock()
	pctx, cancel := context.WithTimeout(ctx, e.opt.StoreTimeout)
	err := e.st.Ping(pctx)
	cancel()
	if err != nil {
		return err
	}
	e.spool.rotate()
	files, err := e.spool.closedFiles()
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := e.replayFile(ctx, f); err != nil {
			return err
		}
	}
	if len(files) > 0 {
		e.log.Info("spool replayed", "files", len(files))
	}
	return nil
}

// EraseUser is the erasure hook (internal/privacy): it removes the user's
// reports from every spool file, except those keep says a legal hold keeps
// (rewriting each file through a temporary file and a rename, fsync'd),
// forgets the cached standing and the local rate buckets, and returns how
// many spooled reports were removed and the store keys (store.Store.Take)
// of the user's rate-limit buckets, for the store's erasure to delete. It covers this process's spool only: every
// replica has its own spool directory.
func (e *Enforcer) EraseUser(app, user string, keep func(*store.Report) bool) (removed int, rateKeys []string, err error) {
	s := e.spool
	s.replayMu.Lock()
	defer s.replayMu.Unlock()
	s.rotate() // the file being written is closed, so it can be rewritten
	s.mu.Lock()
	defer s.mu.Unlock()
	files, err := s.files()
	if err != nil {
		return 0, nil, err
	}
	for _, path := range files {
		n, err := eraseFromFile(path, app, user, keep)
		if err != nil {
			return removed, nil, fmt.Errorf("enforce: spool erase %s: %w", filepath.Base(path), err)
		}
		removed += n
	}
	s.count = max(s.count-removed, 0)

	e.mu.Lock()
	delete(e.cache, ukey{app, user})
	e.mu.Unlock()
	k := lkey{app, user}
	e.lim.mu.Lock()
	delete(e.lim.m, k)
	e.lim.mu.Unlock()
	return removed, []string{k.storeKey()}, nil
}

// eraseFromFile rewrites one spool file without the user's lines.
func eraseFromFile(path, app, user string, held func(*store.Report) bool) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	var keep []byte
	removed := 0
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if line == "" {
			continue
		}
		var r store.Report
		if json.Unmarshal([]byte(line), &r) == nil && r.App == app && r.User == user && (held == nil || !held(&r)) {
			removed++
			continue
		}
		keep = append(keep, line...)
	}
	if removed == 0 {
		return 0, nil
	}
	if len(keep) == 0 {
		return removed, os.Remove(path)
	}
	tmp := path + ".erase"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	_, err = f.Write(keep)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return 0, err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return removed, nil
}

package embedded

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

// bbolt remembers, for every page allocated since the file was opened and
// not freed since, the transaction that allocated it (its freelist's
// allocs map): tens of bytes of heap per page written, never shed while
// the handle is open, so a gateway's heap grew with the record it wrote
// (150 MiB after a load of 10 M reports, docs/benchmarks.md). Closing and
// reopening the file empties the map. So once the handle has allocated
// reopenEvery pages (1 GiB of page writes; an entry per page at most, so
// the map stays within about 10 MiB), the store reopens the file. It waits
// for the transactions in flight, all short (iterators read in batches of
// their own transactions), and holds the next ones for the milliseconds
// the reopening takes; a commit is durable before it returns, so nothing
// is lost.
const reopenEvery = 1 << 18

// shedIfDue reopens the file when the handle has allocated enough pages.
func (s *Store) shedIfDue() {
	s.dbMu.Lock()
	defer s.dbMu.Unlock()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed || s.shedFailed || pagesAllocated(s.db) < s.reopenAfter() {
		return // closed by its owner, down, or another writer shed it first
	}
	if err := s.db.Close(); err != nil {
		s.shedFailed = true
		s.opts.Logger.Error("embedded store: closing the file to reopen it failed; the store is down until restart", "path", s.path, "err", err)
		return
	}
	// The file lock is free between Close and Open: an offline command
	// that takes it then makes this wait, as it would make the gateway's
	// start wait. The handle stays closed (every call fails, as with a
	// store that is down) only if the file cannot be opened at all.
	var err error
	for wait := 10 * time.Millisecond; ; wait *= 2 {
		var db *bolt.DB
		if db, err = bolt.Open(s.path, 0o600, &bolt.Options{Timeout: time.Second}); err == nil {
			s.db = db
			s.reopens.Add(1)
			return
		}
		if wait > 10*time.Second {
			break
		}
		time.Sleep(wait)
	}
	s.shedFailed = true
	s.opts.Logger.Error("embedded store: reopening the file failed; the store is down until restart", "path", s.path, "err", err)
}

// pagesAllocated is how many pages the handle has allocated since it was
// opened (committed transactions).
func pagesAllocated(db *bolt.DB) int64 {
	st := db.Stats()
	return st.TxStats.GetPageCount()
}

// reopenAfter is reopenEvery, or a test's smaller value.
func (s *Store) reopenAfter() int64 {
	if s.shedAt > 0 {
		return s.shedAt
	}
	return reopenEvery
}

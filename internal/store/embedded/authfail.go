package embedded

import (
	"context"
	"time"
)

// authRec is one key's failed authentications.
type authRec struct {
	n    int
	last time.Time
}

// maxAuthKeys bounds the failure records kept; past it, forgotten ones are
// swept (a flood from many addresses must not grow memory without end).
const maxAuthKeys = 100_000

// AddAuthFailure keeps failures in memory, as Take keeps its buckets: one
// process owns the file, and a guessing flood must not become disk writes.
func (s *Store) AddAuthFailure(ctx context.Context, key string, forget time.Duration) (int, error) {
	now := s.now()
	s.rlMu.Lock()
	defer s.rlMu.Unlock()
	if s.auth == nil {
		s.auth = map[string]authRec{}
	}
	r := s.auth[key]
	if now.Sub(r.last) > forget {
		r = authRec{}
	}
	r.n++
	r.last = now
	if _, ok := s.auth[key]; !ok && len(s.auth) >= maxAuthKeys {
		for k, v := range s.auth {
			if now.Sub(v.last) > forget {
				delete(s.auth, k)
			}
		}
	}
	s.auth[key] = r
	return r.n, nil
}

func (s *Store) AuthFailures(ctx context.Context, key string, forget time.Duration) (int, time.Time, error) {
	now := s.now()
	s.rlMu.Lock()
	defer s.rlMu.Unlock()
	r, ok := s.auth[key]
	if !ok || now.Sub(r.last) > forget {
		return 0, time.Time{}, nil
	}
	return r.n, r.last, nil
}

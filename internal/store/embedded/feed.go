package embedded

// The change feed of standing changes made through this process.

import (
	"context"

	"github.com/aupguard/aupguard/internal/store"
)

// --- change feed ---

func (s *Store) Subscribe(ctx context.Context) (<-chan store.Change, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, store.ErrClosed
	}
	sb := &sub{ch: make(chan store.Change, 1024)}
	s.subs[sb] = struct{}{}
	context.AfterFunc(ctx, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.subs[sb]; ok {
			delete(s.subs, sb)
			close(sb.ch)
		}
	})
	return sb.ch, nil
}

// publish never blocks a writer on a slow subscriber: a full channel drops
// the change and the subscriber gets a Resync marker as soon as it has room.
func (s *Store) publish(app, user string, st store.Standing) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := store.Change{UserStanding: store.UserStanding{App: app, User: user, Standing: st}}
	for sb := range s.subs {
		if sb.missed {
			select {
			case sb.ch <- store.Change{Resync: true}:
				sb.missed = false
			default:
				continue
			}
		}
		select {
		case sb.ch <- ch:
		default:
			sb.missed = true
		}
	}
}

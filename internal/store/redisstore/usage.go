package redisstore

import "context"

// Counts returns the reports and actions in the global streams
// (diagnostics and cmd/aupscale).
func (s *Store) Counts(ctx context.Context) (reports, actions int64, err error) {
	if reports, err = s.c.XLen(ctx, s.k.g("reports")).Result(); err != nil {
		return 0, 0, err
	}
	actions, err = s.c.XLen(ctx, s.k.g("audit")).Result()
	return reports, actions, err
}

// UserKeys are every key of the user's slot, and the set of apps that
// know the id.
func (s *Store) UserKeys(app, user string) []string {
	uk := s.k.user(app, user)
	return []string{uk.st, uk.reports, uk.rid, uk.unrev, uk.reviewed, uk.actions, uk.aids, uk.esc, uk.cats, uk.pseud, s.k.userApps(user)}
}

// UserIndexKeys are the global indexes with one entry per user: the
// queue, the sanctioned list and the pseudonym map.
func (s *Store) UserIndexKeys() []string {
	return []string{s.k.g("queue"), s.k.g("sanct"), s.k.g("pseud")}
}

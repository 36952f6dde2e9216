package store

import (
	"slices"
	"time"
)

// Helpers both implementations filter and index with.

// MatchReport reports whether r passes q's filters (App, User, Category,
// Since <= Time < Until); the cursor and limit are the caller's.
func MatchReport(r *Report, q ReportQuery) bool {
	return (q.App == "" || r.App == q.App) && (q.User == "" || r.User == q.User) &&
		(q.Category == "" || slices.Contains(r.Categories, q.Category)) &&
		InRange(r.Time, q.Since, q.Until)
}

// InRange reports since <= t < until; zero bounds are open.
func InRange(t, since, until time.Time) bool {
	return (since.IsZero() || !t.Before(since)) && (until.IsZero() || t.Before(until))
}

// Uniq returns s without empty strings and repeats, in first-seen order.
func Uniq(s []string) []string {
	out := make([]string, 0, len(s))
	for _, v := range s {
		if v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

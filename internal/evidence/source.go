package evidence

import (
	"context"
	"fmt"
	"iter"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aupguard/aupguard/internal/store"
)

// Source is what an export reads. It is declared here, on the consumer
// side, so the store only has to be adapted to it.
type Source interface {
	// Reports yields the reports matching f in the order they were recorded.
	Reports(ctx context.Context, f Filter) iter.Seq2[store.Report, error]
	// Actions yields the reviewer and automatic actions matching f's time
	// range, app and user (Category does not apply to actions), oldest first.
	Actions(ctx context.Context, f Filter) iter.Seq2[store.Action, error]
	// Policy returns the policy version hash with its files, or an error
	// wrapping store.ErrNotFound when the source has no such version. The
	// export asks for every hash its reports cite.
	Policy(ctx context.Context, hash string) (PolicyVersion, error)
}

// Filter selects what a bundle holds. Zero fields select everything.
type Filter struct {
	Since    time.Time `json:"since,omitzero"` // inclusive
	Until    time.Time `json:"until,omitzero"` // exclusive
	App      string    `json:"app,omitempty"`
	User     string    `json:"user,omitempty"` // end-user id as the app sent it
	Category string    `json:"category,omitempty"`
}

// PolicyVersion is one policy bundle version and its source files.
type PolicyVersion struct {
	Hash  string       // the policy engine's bundle hash; [A-Za-z0-9._-], used as a directory name
	From  time.Time    // first loaded by a gateway sharing the store (zero: unknown)
	Files []PolicyFile // paths relative to the policy directory, slash-separated
}

// PolicyFile is one source file of a policy version.
type PolicyFile struct {
	Path string
	Data []byte
}

func (f Filter) inRange(t time.Time) bool {
	return (f.Since.IsZero() || !t.Before(f.Since)) && (f.Until.IsZero() || t.Before(f.Until))
}

// matchReport re-applies f on the writer's side, so a bundle never holds
// more than its manifest says it was filtered to, whatever the Source does.
func (f Filter) matchReport(r *store.Report) bool {
	return f.inRange(r.Time) &&
		(f.App == "" || r.App == f.App) &&
		(f.User == "" || r.User == f.User) &&
		(f.Category == "" || slices.Contains(r.Categories, f.Category))
}

func (f Filter) matchAction(a *store.Action) bool {
	return f.inRange(a.Time) && (f.App == "" || a.App == f.App) && (f.User == "" || a.User == f.User)
}

// ParseTime reads a time given on the command line or in a query:
// RFC 3339 ("2026-11-01T09:00:00Z"), a date ("2026-11-01", midnight UTC),
// or a duration back from now ("24h", "90m", "7d"). Empty gives the zero time.
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		if n > 36500 || n < -36500 { // beyond a century a Duration would overflow soon
			err = fmt.Errorf("too many days")
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(s)
	}
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time, a date (2026-11-01) or a duration back from now (24h, 7d)", s)
	}
	return now.Add(-d).UTC(), nil
}

// FilterFromQuery reads since, until, app, user and category from a query
// (GET /admin/v1/export), the same way the CLI reads its flags.
func FilterFromQuery(q url.Values, now time.Time) (Filter, error) {
	var f Filter
	var err error
	if f.Since, err = ParseTime(q.Get("since"), now); err != nil {
		return f, fmt.Errorf("since: %w", err)
	}
	if f.Until, err = ParseTime(q.Get("until"), now); err != nil {
		return f, fmt.Errorf("until: %w", err)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return f, fmt.Errorf("since (%s) must be before until (%s)", f.Since.Format(time.RFC3339), f.Until.Format(time.RFC3339))
	}
	f.App, f.User, f.Category = q.Get("app"), q.Get("user"), q.Get("category")
	return f, nil
}

// Query is the inverse of FilterFromQuery, for clients.
func (f Filter) Query() url.Values {
	q := url.Values{}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.UTC().Format(time.RFC3339Nano))
	}
	for k, v := range map[string]string{"app": f.App, "user": f.User, "category": f.Category} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// Package store defines what aupguard keeps about end users — standing,
// strikes, abuse reports, the review queue, the audit log of actions, rate
// limit state and generated secrets — and the one interface both
// implementations (store/embedded on bbolt, store/redisstore on Redis)
// satisfy. store/storetest is the conformance suite both must pass.
//
// Users are scoped by app: the key of an end user is (app, user).
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// Store is everything the gateway, the enforcer and the abuse desk need from
// persistent state. All methods are safe for concurrent use.
type Store interface {
	// GetStanding returns the user's standing as of now; a user never seen
	// is Active with zero strikes (not an error).
	GetStanding(ctx context.Context, app, user string) (Standing, error)
	// ListSanctioned returns every user whose status is not active (warned,
	// suspended, banned), for warming the enforcer's cache.
	ListSanctioned(ctx context.Context) ([]UserStanding, error)

	// AddReport records r atomically: stores it, indexes it by user and
	// category, adds its strike to the user's decayed score, bumps the
	// counters and applies escalation by p (see Escalate). Idempotent by
	// r.ID: a second call with the same ID changes nothing and returns the
	// current standing with Duplicate set.
	AddReport(ctx context.Context, r Report, p Policy) (AddResult, error)
	// ApplyAction applies a reviewer action and appends it to the audit log
	// with Before and After filled in — also when nothing changes. a.ID,
	// when set, makes the call idempotent (a retry returns the first result).
	ApplyAction(ctx context.Context, a Action) (Action, Standing, error)

	// Reports lists reports newest first (by recording order).
	Reports(ctx context.Context, q ReportQuery) (Page[Report], error)
	// Queue lists users with unreviewed reports, riskiest first.
	Queue(ctx context.Context, q QueueQuery) (Page[QueueItem], error)
	// User is the case view of one end user.
	User(ctx context.Context, app, user string) (Case, error)
	// Apps lists the apps that have a record of user (the desk asks which
	// app is meant when the same id appears under several).
	Apps(ctx context.Context, user string) ([]string, error)
	// FindPseudonym returns the user behind a pseudonym seen in a report.
	FindPseudonym(ctx context.Context, pseudonym string) (app, user string, ok bool, err error)
	// Audit lists actions newest first.
	Audit(ctx context.Context, q AuditQuery) (Page[Action], error)

	// EachReport calls fn for every report with since <= Time < until (zero
	// bounds are open), in recording order, reading in batches so memory
	// stays flat. An error from fn stops the walk and is returned.
	EachReport(ctx context.Context, since, until time.Time, fn func(Report) error) error
	// EachAction is EachReport for the audit log.
	EachAction(ctx context.Context, since, until time.Time, fn func(Action) error) error

	// Take takes up to n tokens from the GCRA bucket key (sustained
	// l.PerMinute per minute, burst l.PerMinute) and returns how many were
	// granted; when none, retryAfter says when one will be. n < 0 gives
	// -n tokens back (unused leases).
	Take(ctx context.Context, key string, l Limit, n int) (granted int, retryAfter time.Duration, err error)
	// Shared reports whether Take's buckets are shared with other processes
	// (Redis); the embedded store's are process-local.
	Shared() bool

	// AddAuthFailure counts one failed authentication under key (a client
	// address or network prefix) at now and returns the failures counted;
	// a record whose last failure is more than forget old starts again from
	// zero. Shared like Take: across replicas on Redis, process-local embedded.
	AddAuthFailure(ctx context.Context, key string, forget time.Duration) (failures int, err error)
	// AuthFailures reads what AddAuthFailure counted under key and the time
	// of the last failure; 0 and the zero time when none (or forgotten).
	AuthFailures(ctx context.Context, key string, forget time.Duration) (failures int, last time.Time, err error)

	// RevokeSession records that the desk session id is signed out until
	// until (its expiry; afterwards the record may go). SessionRevoked
	// reports it on every process sharing the store, and after restarts:
	// both stores keep revocations durably.
	RevokeSession(ctx context.Context, id string, until time.Time) error
	SessionRevoked(ctx context.Context, id string) (bool, error)

	// GetOrCreateSecret returns the secret called name, creating it with gen
	// when absent. The first writer wins: every caller, on every replica,
	// gets the same bytes.
	GetOrCreateSecret(ctx context.Context, name string, gen func() ([]byte, error)) ([]byte, error)

	// Subscribe delivers standing changes made through any process sharing
	// the store (embedded: this process). The channel is closed when ctx
	// ends or the store closes. A Change with Resync set means changes may
	// have been missed (e.g. a reconnect): reload with ListSanctioned.
	Subscribe(ctx context.Context) (<-chan Change, error)

	// PutPolicyVersion keeps the files of the policy version hash (the
	// engine pushes every bundle it loads). Deduplicated by hash: a version
	// already stored is not written again and created is false; the first
	// writer's files and StoredAt stay. Versions are never purged.
	PutPolicyVersion(ctx context.Context, hash string, files map[string][]byte) (created bool, err error)
	// PolicyVersion returns the version stored under hash; ErrNotFound when
	// no replica ever stored it.
	PolicyVersion(ctx context.Context, hash string) (PolicyVersion, error)

	// --- subprocessor register (store/providers.go; docs/compliance.md) ---

	// AddProviderCounts adds each cell's Requests to the register (cells
	// with the same identity add up). Not idempotent: the gateway's
	// recorder batches in memory and calls it every few seconds, off the
	// request path.
	AddProviderCounts(ctx context.Context, counts []ProviderCount) error
	// ProviderCounts returns the register's cells for q's days, ordered by
	// day, app, provider, model, then ZDR (false first).
	ProviderCounts(ctx context.Context, q ProviderQuery) ([]ProviderCount, error)

	// --- end of the subprocessor register ---

	// ---- compliance: statements of reasons, appeals, notices ----
	// Types and the shared logic are in compliance.go; each store
	// implements them in its own compliance.go over a RecordTable.
	//
	// PutStatement keeps a statement; the first writer of an id wins.
	PutStatement(ctx context.Context, s Statement) (created bool, err error)
	// Statement reads one; ErrNotFound when there is none.
	Statement(ctx context.Context, id string) (Statement, error)
	// UserStatements lists a user's statements, oldest first.
	UserStatements(ctx context.Context, app, user string) ([]Statement, error)
	// PutAppeal files an appeal (status open); false when its id exists.
	PutAppeal(ctx context.Context, a Appeal) (created bool, err error)
	Appeal(ctx context.Context, id string) (Appeal, error)
	// Appeals lists appeals oldest first.
	Appeals(ctx context.Context, q AppealQuery) (Page[Appeal], error)
	// DecideAppeal closes an open appeal atomically; ErrConflict when it
	// was decided already.
	DecideAppeal(ctx context.Context, id string, d AppealDecision) (Appeal, error)
	// PutNotice keeps an abuse notice; the first writer of an id wins.
	PutNotice(ctx context.Context, n Notice) (created bool, err error)
	Notice(ctx context.Context, id string) (Notice, error)
	// Notices lists notices newest first.
	Notices(ctx context.Context, q NoticeQuery) (Page[Notice], error)
	// EachCompliance walks the records of kind (KindStatement, KindAppeal,
	// KindNotice) made in [since, until), oldest first.
	EachCompliance(ctx context.Context, kind string, since, until time.Time, fn func(ComplianceRecord) error) error
	// EraseCompliance removes every compliance record of the user
	// (internal/privacy's erasure) and counts them by kind.
	EraseCompliance(ctx context.Context, app, user string) (map[string]int, error)
	// PurgeCompliance removes records made before before (retention),
	// except those of users keep names and open appeals with their
	// statements.
	PurgeCompliance(ctx context.Context, before time.Time, keep func(app, user string) bool) (int, error)
	// ---- end of compliance ----

	Ping(ctx context.Context) error
	Close() error
}

// Policy holds the escalation parameters AddReport applies.
type Policy struct {
	HalfLife   time.Duration // strike half-life; <= 0: no decay
	SuspendAt  float64       // score that suspends; <= 0: never by score
	SuspendFor time.Duration // length of an automatic suspension
	BanAt      float64       // score that bans; <= 0: never by score
}

// Limit is a rate limit; PerMinute <= 0 is unlimited.
type Limit struct {
	PerMinute int
}

// UserStanding is a user with its standing.
type UserStanding struct {
	App      string   `json:"app"`
	User     string   `json:"user"`
	Standing Standing `json:"standing"`
}

// Change is one standing change from the change feed.
type Change struct {
	UserStanding
	Resync bool `json:"resync,omitempty"`
}

// AddResult is what AddReport did.
type AddResult struct {
	Standing  Standing
	Changed   bool    // status (or suspension end) changed by this report
	Duplicate bool    // the ID was already recorded; nothing changed
	Action    *Action // the automatic escalation, when one happened
}

// Page is one page of a cursor listing; Next is "" on the last page.
type Page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next_cursor"`
}

// ReportQuery filters Reports. Zero fields do not filter. User needs App.
type ReportQuery struct {
	App, User, Category string
	Since, Until        time.Time // Since <= Time < Until
	Cursor              string
	Limit               int // default 50, max 1000
}

// QueueQuery filters Queue. Zero fields do not filter.
type QueueQuery struct {
	Category string
	Status   Status
	App      string
	MinRisk  float64 // only users whose decayed strike score is at least this
	Cursor   string
	Limit    int
}

// QueueItem is one user in the review queue.
type QueueItem struct {
	User         string    `json:"user"`
	App          string    `json:"app"`
	Risk         float64   `json:"risk"` // decayed strike score now
	Status       Status    `json:"status"`
	Until        time.Time `json:"until,omitzero"`
	Reports      int       `json:"reports"`
	Unreviewed   int       `json:"unreviewed"`
	Categories   []string  `json:"categories"`
	LastReportAt time.Time `json:"last_report_at,omitzero"`
}

// AuditQuery filters Audit; User needs App.
type AuditQuery struct {
	App, User string
	Cursor    string
	Limit     int
}

// Case is everything the desk shows about one user: the latest reports and
// actions (newest first, at most CaseLimit each; page further with Reports
// and Audit) and report counts by category.
type Case struct {
	App        string         `json:"app"`
	User       string         `json:"user"`
	Standing   Standing       `json:"standing"`
	Reports    []Report       `json:"reports"`
	Actions    []Action       `json:"actions"`
	Categories map[string]int `json:"categories"`
	Pseudonyms []string       `json:"pseudonyms,omitempty"`
}

// CaseLimit bounds the reports and actions in a Case.
const CaseLimit = 200

// Errors.
var (
	ErrNotFound    = errors.New("store: not found")
	ErrInvalid     = errors.New("store: invalid argument")
	ErrBadCursor   = errors.New("store: bad cursor")
	ErrClosed      = errors.New("store: closed")
	ErrLocked      = errors.New("store: file is locked by another process")
	ErrUnsupported = errors.New("store: unsupported URL")
)

// PageLimit returns the effective page size.
func PageLimit(n int) int {
	switch {
	case n <= 0:
		return 50
	case n > 1000:
		return 1000
	}
	return n
}

// Options are common to every implementation.
type Options struct {
	Clock  func() time.Time // default time.Now
	Logger *slog.Logger     // default slog.Default()
}

// Option sets an Option.
type Option func(*Options)

// WithClock makes the store read time from now (tests control time).
func WithClock(now func() time.Time) Option { return func(o *Options) { o.Clock = now } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(o *Options) { o.Logger = l } }

// BuildOptions applies opts over the defaults.
func BuildOptions(opts ...Option) Options {
	var o Options
	for _, f := range opts {
		f(&o)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// OpenFunc opens a store from its URL.
type OpenFunc func(ctx context.Context, u string, o Options) (Store, error)

var (
	driversMu sync.RWMutex
	drivers   = map[string]OpenFunc{}
)

// Register makes Open dispatch scheme to fn. Implementations register in
// init; import internal/store/all to get both.
func Register(scheme string, fn OpenFunc) {
	driversMu.Lock()
	defer driversMu.Unlock()
	drivers[scheme] = fn
}

// Open opens the store named by rawURL, dispatching by scheme: bolt://PATH
// (embedded), redis://, rediss://, unix://, redis+sentinel://,
// rediss+sentinel://, redis+cluster://, rediss+cluster:// (Redis).
func Open(ctx context.Context, rawURL string, opts ...Option) (Store, error) {
	scheme, _, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil, fmt.Errorf("%w: %q has no scheme (want bolt://PATH or redis://HOST:PORT)", ErrUnsupported, redact(rawURL))
	}
	driversMu.RLock()
	fn := drivers[strings.ToLower(scheme)]
	var known []string
	for k := range drivers {
		known = append(known, k)
	}
	driversMu.RUnlock()
	if fn == nil {
		sort.Strings(known)
		return nil, fmt.Errorf("%w: scheme %q (registered: %s; import internal/store/all)", ErrUnsupported, scheme, strings.Join(known, ", "))
	}
	return fn(ctx, rawURL, BuildOptions(opts...))
}

// redact hides a password in a URL for error messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Redact is redact for implementations' error messages.
func Redact(raw string) string { return redact(raw) }

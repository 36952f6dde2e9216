// Package compliance is what aupguard does for the operator's duties
// under the Digital Services Act (docs/compliance.md): a statement of
// reasons for every restriction (Art. 17), appeals against them decided
// by a human (Art. 20), and abuse notices taken in and turned into cases
// on the desk (Art. 16). It keeps its records in the store's compliance
// block; the proxy listener serves the app's view (appapi.go), the desk
// the reviewers' (internal/desk).
package compliance

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/aupguard/aupguard/internal/store"
)

// Actor applies an action so it takes effect at once (the enforcer).
type Actor interface {
	Act(ctx context.Context, a store.Action) (store.Standing, error)
}

// Reporter records a report (the enforcer, undecorated: a notice's case
// is not a refusal and needs no statement).
type Reporter interface {
	Report(ctx context.Context, r store.Report, escalation string) (store.Standing, error)
}

// Pseudonymizer maps (app, end user) to the pseudonym sent upstream
// (internal/identity).
type Pseudonymizer interface {
	Pseudonym(app, user string) string
}

// Options configure a Service.
type Options struct {
	Store store.Store // required
	// Policy gives the taxonomy the grounds are read from (the policy
	// engine); nil: grounds name their categories only.
	Policy Policy
	// Actor applies appeal decisions (reinstatements, audit notes) and
	// notice audit entries; Reporter opens notice cases.
	Actor      Actor
	Reporter   Reporter
	Pseudonyms Pseudonymizer
	// Deadline is how long the desk has to decide an appeal (default 14 days).
	Deadline time.Duration
	// MaxTextBytes bounds an appeal's text (default 4096).
	MaxTextBytes int
	// ZDR withholds appeal texts from evidence bundles.
	ZDR bool
	// OnAppeal hears of every appeal filed (the webhook notifier).
	OnAppeal func(store.Appeal)
	// StoreTimeout bounds the store calls made while answering a proxied
	// request (default 2s).
	StoreTimeout time.Duration
	Clock        func() time.Time
	Logger       *slog.Logger
}

// Service is safe for concurrent use.
type Service struct {
	opt   Options
	st    store.Store
	log   *slog.Logger
	now   func() time.Time
	tax   taxonomyCache
	sanct sanctionCache
}

// Errors the API layers map to statuses.
var (
	// ErrTooLarge: an appeal's text (or a notice's description) is over its bound (413).
	ErrTooLarge = errors.New("compliance: too large")
	// ErrSameReviewer: the reviewer who took the contested action may not
	// decide its appeal while another can (403).
	ErrSameReviewer = errors.New("compliance: same reviewer")
	// ErrExists: an appeal against this statement was filed already (409).
	ErrExists = errors.New("compliance: exists")
)

// New builds a Service.
func New(opt Options) (*Service, error) {
	if opt.Store == nil {
		return nil, errors.New("compliance: no store")
	}
	if opt.Deadline <= 0 {
		opt.Deadline = 14 * 24 * time.Hour
	}
	if opt.MaxTextBytes <= 0 {
		opt.MaxTextBytes = 4096
	}
	if opt.StoreTimeout <= 0 {
		opt.StoreTimeout = 2 * time.Second
	}
	if opt.Clock == nil {
		opt.Clock = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	return &Service{opt: opt, st: opt.Store, log: opt.Logger, now: opt.Clock}, nil
}

// Deadline is how long the desk has to decide an appeal.
func (s *Service) Deadline() time.Duration { return s.opt.Deadline }

// MaxTextBytes bounds an appeal's text.
func (s *Service) MaxTextBytes() int { return s.opt.MaxTextBytes }

func (s *Service) storeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	// A client that hangs up must not lose the statement of its refusal.
	return context.WithTimeout(context.WithoutCancel(ctx), s.opt.StoreTimeout)
}

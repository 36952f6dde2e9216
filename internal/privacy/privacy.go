// Package privacy carries out aupguard's personal-data duties over a store
// that implements store.Keeper: the retention sweeper, legal holds, access
// requests (a signed evidence bundle of everything kept about one end
// user) and erasure requests (everything not on hold removed, in the store
// and in the gateway's spool, and the erasure recorded without the id).
package privacy

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/store"
)

// SpoolEraser removes a user from a gateway process's outage spool and
// local caches; internal/enforce's Enforcer satisfies it.
type SpoolEraser interface {
	EraseUser(app, user string, keep func(*store.Report) bool) (removed int, rateKeys []string, err error)
}

// Options configure a Service.
type Options struct {
	Retention config.Retention // zero: config.DefaultRetention()
	// Spool is this process's enforcer (nil: no spool to clean).
	Spool SpoolEraser
	// SubjectKey keys the digest that stands for an erased user in the
	// audit log; nil: a key generated once and kept in the store
	// ("privacy_subject_key"), so every replica computes the same digest.
	SubjectKey []byte
	Clock      func() time.Time
	Logger     *slog.Logger
}

// Service is safe for concurrent use.
type Service struct {
	st      store.Store
	k       store.Keeper
	ret     store.Retention
	holdCat []string
	every   time.Duration
	batch   int
	spool   SpoolEraser
	now     func() time.Time
	log     *slog.Logger

	keyOnce sync.Mutex
	key     []byte

	purged, purgedActions atomic.Int64
	lastSweep             atomic.Int64 // unix ms of the last complete pass
}

// ErrUnsupported is returned by New for a store without store.Keeper.
var ErrUnsupported = errors.New("privacy: the store does not support retention, holds and erasure")

// New builds a Service over st.
func New(st store.Store, o Options) (*Service, error) {
	k, ok := st.(store.Keeper)
	if !ok {
		return nil, fmt.Errorf("%w (%T)", ErrUnsupported, st)
	}
	r := o.Retention
	if r.Default == "" && r.Categories == nil && r.Apps == nil && r.SweepInterval == 0 && r.SweepBatch == 0 && r.HoldCategories == nil {
		r = config.DefaultRetention()
	}
	p, err := r.Periods()
	if err != nil {
		return nil, err
	}
	s := &Service{
		st: st, k: k, spool: o.Spool, now: o.Clock, log: o.Logger, key: o.SubjectKey,
		ret:     store.Retention{Default: p.Default, Categories: p.Categories, Apps: p.Apps, Actions: p.Actions},
		holdCat: r.HoldCategories, every: r.SweepInterval, batch: r.SweepBatch,
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.every <= 0 {
		s.every = time.Hour
	}
	if s.batch <= 0 {
		s.batch = 500
	}
	return s, nil
}

// Retention is the parsed retention rule set.
func (s *Service) Retention() store.Retention { return s.ret }

// Purged counts reports purged by retention since start (a Prometheus
// counter reads it: aupguard_retention_purged_total{kind="report"}).
func (s *Service) Purged() int64 { return s.purged.Load() }

// PurgedActions counts audit actions purged by retention since start.
func (s *Service) PurgedActions() int64 { return s.purgedActions.Load() }

// LastSweep is when the last complete sweep pass ended (zero: none yet).
func (s *Service) LastSweep() time.Time {
	if ms := s.lastSweep.Load(); ms > 0 {
		return time.UnixMilli(ms).UTC()
	}
	return time.Time{}
}

// SeedHolds places the configured category holds that were never placed
// before (an admin's release is not overruled by a restart).
func (s *Service) SeedHolds(ctx context.Context) error {
	for _, c := range s.holdCat {
		placed, err := s.k.PutHold(ctx, store.Hold{Kind: store.HoldCategory, Category: c, Actor: "config",
			Reason: "configured in retention.hold_categories"}, true)
		if err != nil {
			return fmt.Errorf("privacy: seeding hold on %s: %w", c, err)
		}
		if placed {
			s.log.Info("legal hold placed from configuration", "category", c)
		}
	}
	return nil
}

// Holds returns the holds in force, indexed.
func (s *Service) Holds(ctx context.Context) (store.Holds, error) {
	hs, err := s.k.HoldList(ctx)
	if err != nil {
		return store.Holds{}, err
	}
	return store.NewHolds(hs), nil
}

// HoldList lists the holds in force.
func (s *Service) HoldList(ctx context.Context) ([]store.Hold, error) { return s.k.HoldList(ctx) }

// Hold places a hold (recorded in the audit log as "hold").
func (s *Service) Hold(ctx context.Context, h store.Hold) (bool, error) {
	return s.k.PutHold(ctx, h, false)
}

// Release lifts a hold (recorded as "release" with actor and reason).
func (s *Service) Release(ctx context.Context, h store.Hold, actor, reason string) error {
	return s.k.ReleaseHold(ctx, h, actor, reason)
}

// SweepOnce runs one whole retention pass in bounded steps (each step
// reads at most SweepBatch records) and returns what it did. Holds are
// re-read before every step, so a hold placed mid-pass is honoured at once.
func (s *Service) SweepOnce(ctx context.Context) (store.SweepResult, error) {
	var total store.SweepResult
	req := store.SweepRequest{Retention: s.ret, Limit: s.batch}
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		var err error
		if req.Holds, err = s.Holds(ctx); err != nil {
			return total, err
		}
		req.Now = s.now()
		res, err := s.k.Sweep(ctx, req)
		total.Purged += res.Purged
		total.PurgedActions += res.PurgedActions
		total.Held += res.Held
		s.purged.Add(int64(res.Purged))
		s.purgedActions.Add(int64(res.PurgedActions))
		if err != nil {
			return total, err
		}
		if res.Next == "" {
			// Compliance records are kept as long as the audit log.
			if s.ret.Actions > 0 {
				n, err := s.st.PurgeCompliance(ctx, s.now().Add(-s.ret.Actions), req.Holds.User)
				total.PurgedActions += n
				s.purgedActions.Add(int64(n))
				if err != nil {
					return total, err
				}
			}
			s.lastSweep.Store(s.now().UnixMilli())
			return total, nil
		}
		req.Cursor = res.Next
	}
}

// Run seeds the configured holds and sweeps every SweepInterval until ctx
// ends. Errors are logged and retried at the next interval.
func (s *Service) Run(ctx context.Context) {
	seeded := false
	for {
		if !seeded {
			if err := s.SeedHolds(ctx); err != nil {
				s.log.Error("privacy: seeding holds", "err", err)
			} else {
				seeded = true
			}
		}
		if seeded {
			res, err := s.SweepOnce(ctx)
			if err != nil && ctx.Err() == nil {
				s.log.Error("privacy: retention sweep", "err", err, "purged", res.Purged)
			} else if res.Purged+res.PurgedActions > 0 {
				s.log.Info("retention sweep", "purged_reports", res.Purged, "purged_actions", res.PurgedActions, "held", res.Held)
			}
		}
		t := time.NewTimer(s.every)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// subjectKey returns the digest key, taking it from the store once.
func (s *Service) subjectKey(ctx context.Context) ([]byte, error) {
	s.keyOnce.Lock()
	defer s.keyOnce.Unlock()
	if s.key != nil {
		return s.key, nil
	}
	k, err := s.st.GetOrCreateSecret(ctx, "privacy_subject_key", func() ([]byte, error) {
		b := make([]byte, 32)
		_, err := rand.Read(b)
		return b, err
	})
	if err != nil {
		return nil, err
	}
	s.key = k
	return k, nil
}

// SubjectDigest is the reference that stands for (app, user) in an
// erasure record: HMAC-SHA256 under the subject key, so it cannot be
// reversed or recomputed without the key, but a repeated request for the
// same user yields the same reference.
func (s *Service) SubjectDigest(ctx context.Context, app, user string) (string, error) {
	k, err := s.subjectKey(ctx)
	if err != nil {
		return "", err
	}
	m := hmac.New(sha256.New, k)
	m.Write([]byte(app))
	m.Write([]byte{0})
	m.Write([]byte(user))
	return "hmac-sha256:" + hex.EncodeToString(m.Sum(nil)), nil
}

// EraseResult is one app's erasure.
type EraseResult struct {
	App     string        `json:"app"`
	Subject string        `json:"subject"` // the digest the audit record carries
	Erasure store.Erasure `json:"erasure"`
	Spooled int           `json:"spooled_reports"`
	// Compliance counts the statements, appeals and notices removed.
	Compliance map[string]int `json:"compliance_records,omitempty"`
}

// Erase carries out an erasure request for user in app, or in every app
// that knows the user when app is "". The spool is cleaned first, so a
// report waiting there cannot bring the user back after the store is clean.
func (s *Service) Erase(ctx context.Context, app, user, actor, reason string) ([]EraseResult, error) {
	if user == "" || actor == "" || reason == "" {
		return nil, fmt.Errorf("%w: an erasure needs a user, an actor and a reason", store.ErrInvalid)
	}
	apps := []string{app}
	if app == "" {
		var err error
		if apps, err = s.st.Apps(ctx, user); err != nil {
			return nil, err
		}
		if len(apps) == 0 {
			return nil, fmt.Errorf("%w: no record of user %q in any app", store.ErrNotFound, user)
		}
	}
	holds, err := s.Holds(ctx)
	if err != nil {
		return nil, err
	}
	var out []EraseResult
	for _, a := range apps {
		res := EraseResult{App: a}
		if res.Subject, err = s.SubjectDigest(ctx, a, user); err != nil {
			return out, err
		}
		var rateKeys []string
		if s.spool != nil && !holds.User(a, user) {
			held := func(r *store.Report) bool { return holds.Report(r) != "" }
			if res.Spooled, rateKeys, err = s.spool.EraseUser(a, user, held); err != nil {
				return out, err
			}
		}
		if !holds.User(a, user) {
			// Statements, appeals and notices first: the embedded store's
			// erasure compacts the file after.
			if res.Compliance, err = s.st.EraseCompliance(ctx, a, user); err != nil {
				return out, err
			}
		}
		res.Erasure, err = s.k.EraseUser(ctx, store.EraseRequest{
			App: a, User: user, Holds: holds, RateKeys: rateKeys,
			Actor: actor, Reason: reason, Subject: res.Subject, Spooled: res.Spooled,
		})
		if err != nil {
			return out, err
		}
		// The log line carries the digest, never the id.
		s.log.Info("erasure", "app", a, "subject", res.Subject, "actor", actor, "reports", res.Erasure.Reports,
			"actions", res.Erasure.Actions, "held_reports", res.Erasure.HeldReports, "user_held", res.Erasure.UserHeld)
		out = append(out, res)
	}
	return out, nil
}

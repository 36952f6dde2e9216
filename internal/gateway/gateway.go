// Package gateway assembles aupguard from its parts: it opens the store,
// loads the keys and policies, builds the enforcer, webhooks, desk,
// evidence export and privacy service, and the server that chains the
// middleware (docs/architecture.md). cmd/aupguard parses flags and calls
// New; whole-system tests use it the same way.
package gateway

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"

	"github.com/aupguard/aupguard/internal/answer"
	"github.com/aupguard/aupguard/internal/authguard"
	"github.com/aupguard/aupguard/internal/compliance"
	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/enforce"
	"github.com/aupguard/aupguard/internal/evidence"
	"github.com/aupguard/aupguard/internal/identity"
	"github.com/aupguard/aupguard/internal/metrics"
	"github.com/aupguard/aupguard/internal/policy"
	"github.com/aupguard/aupguard/internal/privacy"
	"github.com/aupguard/aupguard/internal/register"
	"github.com/aupguard/aupguard/internal/server"
	"github.com/aupguard/aupguard/internal/store"
	_ "github.com/aupguard/aupguard/internal/store/all" // bolt:// and redis:// stores
	"github.com/aupguard/aupguard/internal/tlsreload"
	"github.com/aupguard/aupguard/internal/webhook"
)

// Gateway is aupguard assembled from its parts (store, policy engine,
// enforcer, webhooks, desk, evidence, privacy, server); Close releases
// them in reverse order.
type Gateway struct {
	server   *server.Server
	store    store.Store
	policy   *policy.Engine
	enforcer *enforce.Enforcer
	policies *evidence.PolicyArchive // every version loaded, kept in the store for evidence bundles
	privacy  *privacy.Service
	webhooks *webhook.Notifier
	// compliance keeps statements of reasons, appeals and notices.
	compliance *compliance.Service
	guard      *authguard.Guard  // failed-authentication throttle; its counters are methods
	certs      []*tlsreload.Cert // TLS certificates, read again on SIGHUP
	closers    []func() error
	register   *register.Recorder // the subprocessor register's counts, flushed to the store
}

// reloadCerts reads the TLS certificates again; one that fails keeps the
// certificate in use.
func (g *Gateway) reloadCerts(log *slog.Logger) {
	for _, c := range g.certs {
		if err := c.Reload(); err != nil {
			log.Error("TLS certificate reload failed; keeping the one in use", "error", err.Error())
		} else {
			log.Info("TLS certificate reloaded", "not_after", c.NotAfter())
		}
	}
}

// loadTLS reads a listener's certificate; nil when it has no TLS.
func (g *Gateway) loadTLS(t config.TLS) (*tls.Config, error) {
	if !t.Enabled() {
		return nil, nil
	}
	c, err := tlsreload.Load(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, err
	}
	g.certs = append(g.certs, c)
	return c.Config(), nil
}

func (g *Gateway) Close() {
	for i := len(g.closers) - 1; i >= 0; i-- {
		_ = g.closers[i]()
	}
}

// Run serves on the configured addresses until ctx ends, then shuts down
// gracefully (internal/server).
func (g *Gateway) Run(ctx context.Context) error { return g.server.Run(ctx) }

// Serve is Run on listeners the caller opened (the demo, tests).
func (g *Gateway) Serve(ctx context.Context, proxyLn, adminLn net.Listener) error {
	return g.server.Serve(ctx, proxyLn, adminLn)
}

// Reload reads the policies and the TLS certificates again (SIGHUP); a
// broken policy or certificate keeps the one in use.
func (g *Gateway) Reload(ctx context.Context, log *slog.Logger) {
	if err := g.policy.Reload(ctx); err != nil {
		log.Error("policy reload failed; keeping the previous policy", "error", err.Error())
	} else {
		log.Info("policies reloaded", "hash", g.policy.Hash())
	}
	g.reloadCerts(log)
}

// Server is the gateway's listeners and handlers.
func (g *Gateway) Server() *server.Server { return g.server }

// Store is the store the gateway opened.
func (g *Gateway) Store() store.Store { return g.store }

// Policy is the policy engine.
func (g *Gateway) Policy() *policy.Engine { return g.policy }

// New wires the parts together from cfg; each part validates its own
// options. Nothing listens until Run or Serve.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger) (g *Gateway, err error) {
	g = &Gateway{}
	// "return nil, err" clears g before this runs: close what was opened
	// through its own pointer (a failed start must not panic or leak).
	opened := g
	defer func() {
		if err != nil {
			opened.Close()
		}
	}()
	routeLibraryLogs(log)
	st, err := openStore(ctx, cfg.Store, log)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	g.store = st
	g.closers = append(g.closers, st.Close)
	g.register = startRegister(st, log) // closed (flushed) before the store
	g.closers = append(g.closers, g.register.Close)
	if g.guard, err = authguard.New(authguard.Options{Store: st, Config: cfg.AuthThrottle, Logger: log}); err != nil {
		return nil, err
	}

	keys, err := identity.LoadKeys(ctx, cfg.Secrets.PseudonymKey, cfg.Secrets.DigestKey, st)
	if err != nil {
		return nil, err
	}
	pseudo, err := identity.NewPseudonymizer(keys.Pseudonym)
	if err != nil {
		return nil, err
	}
	digest, err := identity.NewDigester(keys.Digest)
	if err != nil {
		return nil, err
	}

	// Every version the engine loads (at start, on SIGHUP, by the watcher)
	// goes into the store before it decides anything, so evidence bundles
	// hold the files of every version their reports cite.
	g.policies = evidence.NewPolicyArchive(st, log)
	startPolicyRetries(ctx, g)
	popt := policy.Options{Dir: cfg.Policies, Watch: cfg.Policy.Watch, DryRun: cfg.Policy.DryRun, Logger: log, OnLoad: g.policies.Put,
		Unscanned: cfg.Policy.Unscanned, AppUnscanned: cfg.AppUnscanned()}
	if c := cfg.Policy.Classifier; c != nil {
		popt.Classifier = &policy.ClassifierOptions{
			Mode: c.Mode, URL: c.URL, APIKey: c.APIKey, Model: c.Model, Timeout: c.Timeout,
			OnTimeout: policy.Action(c.OnTimeout),
		}
		if len(c.CascadeBand) == 2 {
			popt.Classifier.CascadeBand = [2]float64{c.CascadeBand[0], c.CascadeBand[1]}
		}
		if popt.Classifier.URL == "" {
			popt.Classifier.URL = cfg.Upstream.URL
		}
		if popt.Classifier.APIKey == "" {
			popt.Classifier.APIKey = cfg.Upstream.APIKey
		}
	}
	eng, err := policy.New(ctx, popt)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	g.policy = eng
	g.closers = append(g.closers, eng.Close)

	enf, err := enforce.New(ctx, st, enforce.Options{
		Escalation: cfg.Escalation, RateLimits: cfg.RateLimits,
		FailMode: cfg.FailMode, SpoolDir: cfg.SpoolDir, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("enforce: %w", err)
	}
	g.enforcer = enf
	g.closers = append(g.closers, enf.Close)

	// Webhooks hear of every report through a decorated enforcer.
	reporting, err := wireWebhooks(g, cfg, log, enf)
	if err != nil {
		return nil, err
	}
	comp, reporting, err := wireCompliance(g, cfg, log, st, eng, enf, reporting, pseudo)
	if err != nil {
		return nil, err
	}
	admin, err := wireDesk(ctx, g, cfg, log, st, enf, comp)
	if err != nil {
		return nil, err
	}

	// Answers are checked for apps with answer_check on; a parallel
	// classifier's verdict is applied to every answer.
	checker, err := answer.New(eng, answer.Options{Logger: log})
	if err != nil {
		return nil, err
	}

	proxyTLS, err := g.loadTLS(cfg.TLS)
	if err != nil {
		return nil, err
	}
	adminTLS, err := g.loadTLS(cfg.AdminTLS)
	if err != nil {
		return nil, err
	}
	g.server, err = server.New(server.Options{
		Config: cfg, Policy: eng, Enforcer: reporting, Pseudonymizer: pseudo, Digester: digest, Logger: log,
		Ready: enf.Ready, Admin: admin, Answers: checker, AuthGuard: g.guard,
		ProxyTLS: proxyTLS, AdminTLS: adminTLS, Served: g.register,
		Statements: comp.SanctionStatement, AppAPI: comp.ServeApp,
	})
	if err != nil {
		return nil, err
	}
	registerPrivacyMetrics(g.server.Registry(), g.privacy)
	if err := metrics.Register(g.server.Registry(), metrics.Sources{
		Enforcement: enf.Metrics(), SpoolDepth: enf.Spooled, StoreUp: enf.StoreUp,
		Webhooks: g.webhooks.Stats, Policy: eng.Metrics(), PolicyHash: eng.Hash, Auth: g.authCounts,
	}); err != nil {
		return nil, err
	}
	return g, nil
}

// authCounts reads the authentication throttle's counters for /metrics.
func (g *Gateway) authCounts() (failures, refused, lockouts uint64) {
	if g.guard == nil {
		return 0, 0, 0
	}
	return g.guard.Failures(), g.guard.Refused(), g.guard.Lockouts()
}

package gateway

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aupguard/aupguard/internal/compliance"
	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/desk"
	"github.com/aupguard/aupguard/internal/enforce"
	"github.com/aupguard/aupguard/internal/evidence"
	"github.com/aupguard/aupguard/internal/privacy"
	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/webhook"
)

// webhookDrain bounds how long shutdown waits for queued webhook deliveries.
const webhookDrain = 5 * time.Second

// wireWebhooks starts the notifier and returns the enforcer the pipeline
// should use: the real one, decorated so every report reaches the notifier.
func wireWebhooks(g *Gateway, cfg *config.Config, log *slog.Logger, enf *enforce.Enforcer) (webhook.Enforcer, error) {
	wh, err := webhook.New(webhook.Options{Hooks: cfg.Webhooks, Logger: log})
	if err != nil {
		return nil, err
	}
	g.webhooks = wh
	g.closers = append(g.closers, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), webhookDrain)
		defer cancel()
		return wh.Close(ctx)
	})
	return webhook.Observed(enf, wh), nil
}

// wireDesk builds the abuse desk and its evidence export; the returned
// function mounts both on the admin listener.
func wireDesk(ctx context.Context, g *Gateway, cfg *config.Config, log *slog.Logger, st store.Store, enf *enforce.Enforcer, comp *compliance.Service) (func(*gin.Engine), error) {
	key, err := evidence.LoadOrCreateKey(cfg.Secrets.SigningKeyFile)
	if err != nil {
		return nil, err
	}
	src := evidence.StoreSource{Store: st}
	// Bundles hold the statements, appeals and notices too.
	x := &evidence.Exporter{Key: key, ZDR: cfg.ZDR, Extra: comp.ExtraChains(), Casework: comp}

	// Retention, legal holds and data-subject requests (docs/privacy.md).
	priv, err := privacy.New(st, privacy.Options{Retention: cfg.Retention, Spool: enf, Logger: log})
	if err != nil {
		return nil, err
	}
	g.privacy = priv
	sweepCtx, stopSweeper := context.WithCancel(context.WithoutCancel(ctx))
	sweeperDone := make(chan struct{})
	go func() {
		defer close(sweeperDone)
		priv.Run(sweepCtx)
	}()
	g.closers = append(g.closers, func() error { stopSweeper(); <-sweeperDone; return nil })
	marked := priv.MarkHolds(src)

	general := desk.ExporterFunc(func(ctx context.Context, w io.Writer, f desk.ExportFilter) error {
		flushPolicies(ctx, g.policies, log)
		_, err := x.Export(ctx, w, marked, evidence.Filter(f))
		return err
	})
	subject := func(ctx context.Context, w io.Writer, app, user string) error {
		flushPolicies(ctx, g.policies, log)
		_, err := priv.Export(ctx, w, x, src, app, user)
		return err
	}
	// The raw enforcer is the desk's actor: erasure reaches its spool.
	d, err := desk.New(desk.Options{
		Store: st, Actor: enf, Tokens: cfg.AdminTokens, ZDR: cfg.ZDR, Logger: log,
		Exporter: desk.WithSubjectExport(general, subject),
		Apps:     appNames(cfg), Throttle: g.guard, Compliance: comp, Casework: comp,
	})
	if err != nil {
		return nil, err
	}
	return func(e *gin.Engine) { d.Register(e) }, nil
}

// policyRetry is how often versions the store could not take at load
// are tried again.
const policyRetry = 30 * time.Second

// startPolicyRetries retries, until shutdown, the policy versions the
// store could not take when they were loaded.
func startPolicyRetries(ctx context.Context, g *Gateway) {
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.policies.Run(rctx, policyRetry)
	}()
	g.closers = append(g.closers, func() error { stop(); <-done; return nil })
}

// flushPolicies stores pending policy versions before an export reads
// them; a failure is the export's to report (it names what is missing).
func flushPolicies(ctx context.Context, a *evidence.PolicyArchive, log *slog.Logger) {
	if err := a.Flush(ctx); err != nil {
		log.Warn("export: policy versions still not stored", "pending", a.Pending(), "error", err.Error())
	}
}

// registerPrivacyMetrics exposes what retention purged.
func registerPrivacyMetrics(reg *prometheus.Registry, priv *privacy.Service) {
	for kind, count := range map[string]func() int64{"report": priv.Purged, "action": priv.PurgedActions} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "aupguard_retention_purged_total",
			Help:        "Records purged by retention, by kind.",
			ConstLabels: prometheus.Labels{"kind": kind},
		}, func() float64 { return float64(count()) }))
	}
}

// appNames are the configured apps, for the desk's default app.
func appNames(cfg *config.Config) []string {
	names := make([]string, 0, len(cfg.Apps))
	for _, a := range cfg.Apps {
		names = append(names, a.Name)
	}
	return names
}

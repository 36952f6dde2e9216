package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/desk"
	"github.com/aupguard/aupguard/internal/enforce"
	"github.com/aupguard/aupguard/internal/evidence"
	"github.com/aupguard/aupguard/internal/policy"
	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/webhook"
)

// webhookDrain bounds how long shutdown waits for queued webhook deliveries.
const webhookDrain = 5 * time.Second

// wireWebhooks starts the notifier and returns the enforcer the pipeline
// should use: the real one, decorated so every report reaches the notifier.
func wireWebhooks(g *gateway, cfg *config.Config, log *slog.Logger, enf *enforce.Enforcer) (webhook.Enforcer, error) {
	wh, err := webhook.New(webhook.Options{Hooks: cfg.Webhooks, Logger: log})
	if err != nil {
		return nil, err
	}
	g.closers = append(g.closers, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), webhookDrain)
		defer cancel()
		return wh.Close(ctx)
	})
	return webhook.Observed(enf, wh), nil
}

// wireDesk builds the abuse desk and its evidence export; the returned
// function mounts both on the admin listener.
func wireDesk(g *gateway, cfg *config.Config, log *slog.Logger, st store.Store, enf *enforce.Enforcer, eng *policy.Engine) (func(*gin.Engine), error) {
	key, err := evidence.LoadOrCreateKey(cfg.Secrets.SigningKeyFile)
	if err != nil {
		return nil, err
	}
	g.policies = evidence.NewPolicyHistory(nil)
	g.policies.Observe(eng.Hash(), eng.Files())
	src := evidence.StoreSource{Store: st, History: g.policies}
	x := &evidence.Exporter{Key: key, ZDR: cfg.ZDR}
	d, err := desk.New(desk.Options{
		Store: st, Actor: enf, Tokens: cfg.AdminTokens, ZDR: cfg.ZDR, Logger: log,
		Exporter: desk.ExporterFunc(func(ctx context.Context, w io.Writer, f desk.ExportFilter) error {
			// A watched policy directory reloads on its own: note the
			// version in force now, so the bundle has it.
			g.policies.Observe(eng.Hash(), eng.Files())
			_, err := x.Export(ctx, w, src, evidence.Filter(f))
			return err
		}),
	})
	if err != nil {
		return nil, err
	}
	return func(e *gin.Engine) { d.Register(e) }, nil
}

package gateway

import (
	"log/slog"

	"github.com/aupguard/aupguard/internal/compliance"
	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/enforce"
	"github.com/aupguard/aupguard/internal/identity"
	"github.com/aupguard/aupguard/internal/policy"
	"github.com/aupguard/aupguard/internal/store"
	"github.com/aupguard/aupguard/internal/webhook"
)

// wireCompliance builds the statements, appeals and notices service
// (docs/compliance.md) and returns the enforcer the pipeline should use:
// reporting, decorated so every refusal and automatic escalation gets its
// statement of reasons. The raw enforcer applies appeal decisions and
// opens notice cases (those are not refusals).
func wireCompliance(g *Gateway, cfg *config.Config, log *slog.Logger, st store.Store, eng *policy.Engine,
	enf *enforce.Enforcer, reporting webhook.Enforcer, pseudo *identity.Pseudonymizer) (*compliance.Service, webhook.Enforcer, error) {
	svc, err := compliance.New(compliance.Options{
		Store: st, Policy: eng, Actor: enf, Reporter: enf, Pseudonyms: pseudo,
		Deadline: cfg.Appeals.DeadlinePeriod(), MaxTextBytes: cfg.Appeals.MaxTextBytes, ZDR: cfg.ZDR,
		OnAppeal: func(a store.Appeal) { g.webhooks.AppealFiled(a, pseudo.Pseudonym(a.App, a.User)) },
		Logger:   log,
	})
	if err != nil {
		return nil, nil, err
	}
	g.compliance = svc
	return svc, svc.Observed(reporting), nil
}

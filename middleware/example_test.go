package middleware_test

import (
	"context"
	"log/slog"
	"os"

	"github.com/gin-gonic/gin"

	"github.com/aupguard/aupguard/internal/identity"
	"github.com/aupguard/aupguard/internal/policy"
	"github.com/aupguard/aupguard/internal/proxy"
	"github.com/aupguard/aupguard/internal/wire"
	"github.com/aupguard/aupguard/middleware"
)

type allowAll struct{}

func (allowAll) CheckRequest(context.Context, policy.Subject, []wire.Text) (policy.Decision, error) {
	return policy.Decision{Action: policy.Allow}, nil
}

// A test or a tool inside this module can take just the steps it needs:
// here app keys, the path guard, the bounded body, end-user pseudonyms and
// a policy, in front of OpenRouter. The whole chain is middleware.Chain.
func Example() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	px, err := proxy.New(proxy.Options{
		Upstream: "https://openrouter.ai/api/v1", APIKey: os.Getenv("OPENROUTER_API_KEY"),
	})
	if err != nil {
		return
	}
	pseudo, err := identity.NewPseudonymizer([]byte(os.Getenv("PSEUDONYM_KEY")))
	if err != nil {
		return
	}
	apps := []*middleware.App{{Name: "web", KeyDigest: middleware.KeyDigest(os.Getenv("WEB_APP_KEY"))}}

	r := gin.New()
	r.Use(middleware.RequestID(), middleware.AccessLog(log), middleware.Recovery(log))
	r.NoRoute(
		middleware.Auth(apps, log),
		middleware.Route(middleware.RouteOptions{}),
		middleware.Body(middleware.BodyOptions{}),
		middleware.EndUser(pseudo),
		middleware.Inspect(middleware.InspectOptions{Policy: allowAll{}, Logger: log}),
		middleware.Forward(middleware.ForwardOptions{Proxy: px, Logger: log}),
	)
	_ = r // r.Run(":8080")
}

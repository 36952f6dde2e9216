package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aupguard/aupguard/internal/answer"
	"github.com/aupguard/aupguard/internal/authguard"
	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/enforce"
	"github.com/aupguard/aupguard/internal/evidence"
	"github.com/aupguard/aupguard/internal/identity"
	"github.com/aupguard/aupguard/internal/memguard"
	"github.com/aupguard/aupguard/internal/metrics"
	"github.com/aupguard/aupguard/internal/policy"
	"github.com/aupguard/aupguard/internal/privacy"
	"github.com/aupguard/aupguard/internal/server"
	"github.com/aupguard/aupguard/internal/store"
	_ "github.com/aupguard/aupguard/internal/store/all" // bolt:// and redis:// stores
	"github.com/aupguard/aupguard/internal/tlsreload"
	"github.com/aupguard/aupguard/internal/webhook"
)

func init() {
	register("serve", "run the gateway (proxy and admin listeners) [--config FILE]", runServe)
}

func runServe(args []string) int {
	cfgPath, code, ok := serveFlags(args, os.Stderr, os.Getenv)
	if !ok {
		return code
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "aupguard:", err)
		return 2
	}
	log := newLogger(cfg.Log.Level)
	for _, w := range cfg.Warnings() {
		log.Warn(w)
	}
	lim := memguard.ApplyLimit(cfg.Limits.MemoryLimit, nil, nil)
	log.Info("memory limit", "bytes", lim.Bytes, "source", lim.Source)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, log); err != nil {
		log.Error("aupguard stopped", "error", err.Error())
		return 1
	}
	return 0
}

// serveFlags parses serve's arguments; ok is false when serve must exit
// with code instead (0 after --help, 2 on a usage error).
func serveFlags(args []string, stderr io.Writer, getenv func(string) string) (cfgPath string, code int, ok bool) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfgPath, "config", getenv("AUPGUARD_CONFIG"), "YAML config `FILE` (default: $AUPGUARD_CONFIG, else the built-in defaults)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: aupguard serve [--config FILE]

Runs the gateway: the proxy listener (default 127.0.0.1:8080) and the admin
listener (default 127.0.0.1:8081: health, metrics, desk, admin API) until
SIGINT or SIGTERM; SIGHUP reloads the policies. Every config value can be
overridden by an AUPGUARD_* environment variable (upstream.api_key is
AUPGUARD_UPSTREAM_API_KEY); with no config and no apps, AUPGUARD_APP_KEY
defines the app "default". See README.md, "Configuration".

`)
		fs.PrintDefaults()
	}
	if code, ok := parseNoArgs(fs, args, stderr); !ok {
		return "", code, false
	}
	return cfgPath, 0, true
}

func newLogger(level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lv}))
}

// serve runs the gateway until ctx ends.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	g, err := build(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer g.Close()

	// SIGHUP reloads the policies; a broken policy keeps the old one.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := g.policy.Reload(ctx); err != nil {
					log.Error("policy reload failed; keeping the previous policy", "error", err.Error())
				} else {
					log.Info("policies reloaded", "hash", g.policy.Hash())
				}
				g.reloadCerts(log)
			}
		}
	}()
	return g.server.Run(ctx)
}

// gateway holds the wired parts; Close releases them in reverse order.
type gateway struct {
	server   *server.Server
	store    store.Store
	policy   *policy.Engine
	enforcer *enforce.Enforcer
	policies *evidence.PolicyArchive // every version loaded, kept in the store for evidence bundles
	privacy  *privacy.Service
	webhooks *webhook.Notifier
	guard    *authguard.Guard  // failed-authentication throttle; its counters are methods
	certs    []*tlsreload.Cert // TLS certificates, read again on SIGHUP
	closers  []func() error
}

// reloadCerts reads the TLS certificates again; one that fails keeps the
// certificate in use.
func (g *gateway) reloadCerts(log *slog.Logger) {
	for _, c := range g.certs {
		if err := c.Reload(); err != nil {
			log.Error("TLS certificate reload failed; keeping the one in use", "error", err.Error())
		} else {
			log.Info("TLS certificate reloaded", "not_after", c.NotAfter())
		}
	}
}

// loadTLS reads a listener's certificate; nil when it has no TLS.
func (g *gateway) loadTLS(t config.TLS) (*tls.Config, error) {
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

func (g *gateway) Close() {
	for i := len(g.closers) - 1; i >= 0; i-- {
		_ = g.closers[i]()
	}
}

// build wires the parts together; each part validates its own options.
func build(ctx context.Context, cfg *config.Config, log *slog.Logger) (g *gateway, err error) {
	g = &gateway{}
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
	admin, err := wireDesk(ctx, g, cfg, log, st, enf)
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
		ProxyTLS: proxyTLS, AdminTLS: adminTLS,
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
func (g *gateway) authCounts() (failures, refused, lockouts uint64) {
	if g.guard == nil {
		return 0, 0, 0
	}
	return g.guard.Failures(), g.guard.Refused(), g.guard.Lockouts()
}

// openStore opens the store, waiting for a Redis that does not answer yet
// (a replica restarted during an outage comes up when Redis does, instead
// of exiting in a restart loop). A store that can never work (a bad URL, a
// bolt file another process holds) fails at once.
func openStore(ctx context.Context, url string, log *slog.Logger) (store.Store, error) {
	wait := time.Second
	for {
		st, err := store.Open(ctx, url, store.WithLogger(log))
		if err == nil || !strings.HasPrefix(url, "redis") && !strings.HasPrefix(url, "unix") {
			return st, err
		}
		var reply redis.Error // Redis answered, with an error (e.g. bad password): waiting will not help
		if errors.Is(err, store.ErrUnsupported) || errors.Is(err, store.ErrInvalid) || errors.As(err, &reply) {
			return nil, err
		}
		log.Warn("store not reachable yet; retrying", "error", err.Error(), "in", wait.String())
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

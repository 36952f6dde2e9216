// Package server puts the gateway together: the proxy listener with the
// middleware chain in its one documented order, the admin listener with
// health, readiness and metrics, and a graceful shutdown that lets streams
// in flight finish within a grace period.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/aupguard/aupguard/internal/answer"
	"github.com/aupguard/aupguard/internal/authguard"
	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/memguard"
	"github.com/aupguard/aupguard/internal/proxy"
	"github.com/aupguard/aupguard/internal/register"
	"github.com/aupguard/aupguard/internal/wire"
	"github.com/aupguard/aupguard/middleware"
)

func init() { gin.SetMode(gin.ReleaseMode) }

// Options are the parts the server chains; internal/gateway builds them.
type Options struct {
	Config        *config.Config
	Policy        middleware.Policy        // required
	Enforcer      middleware.Enforcer      // required
	Pseudonymizer middleware.Pseudonymizer // required
	Digester      middleware.Digester      // required
	Logger        *slog.Logger
	// Registry receives the metrics (nil: a new registry with Go and
	// process collectors).
	Registry *prometheus.Registry
	// Transport replaces the tuned upstream transport (tests, benchmarks).
	Transport http.RoundTripper
	// Ready checks dependencies for /readyz (store, policy); nil: always ready.
	Ready func(ctx context.Context) error
	// Admin mounts more routes on the admin listener (desk, admin API).
	Admin func(*gin.Engine)
	// Answers checks the answers of apps with answer_check on; nil: none
	// are checked (a parallel classifier's verdict still applies).
	Answers *answer.Checker
	// AuthGuard throttles app-key guessing; nil: no throttle.
	AuthGuard *authguard.Guard
	// Served counts which providers served each app (the subprocessor
	// register); nil: not counted.
	Served middleware.ServedRecorder
	// ProxyTLS and AdminTLS serve the listeners over TLS; nil: plain HTTP.
	ProxyTLS, AdminTLS *tls.Config
	// Statements names the statements of reasons refusals carry; nil: none.
	Statements middleware.StatementFinder
	// AppAPI serves the app's own routes under /aup/v1/ (statements,
	// appeals) once its key is authenticated; nil: not served.
	AppAPI func(c *gin.Context, app string)
}

// Server is the gateway.
type Server struct {
	cfg      *config.Config
	log      *slog.Logger
	proxyH   *gin.Engine
	adminH   *gin.Engine
	metrics  *middleware.Metrics
	registry *prometheus.Registry
	ready    func(ctx context.Context) error
	draining atomic.Bool
	proxyTLS *tls.Config
	adminTLS *tls.Config
	guard    *authguard.Guard
	bodies   *memguard.Budget // request-body memory in flight (Bodies)
	calls    *memguard.Calls  // model calls in flight per app (Calls)

	mu        sync.Mutex
	proxyAddr net.Addr
	adminAddr net.Addr
}

// New builds both handlers.
func New(opt Options) (*Server, error) {
	cfg := opt.Config
	if cfg == nil {
		return nil, errors.New("server: no config")
	}
	if opt.Policy == nil || opt.Enforcer == nil || opt.Pseudonymizer == nil || opt.Digester == nil {
		return nil, errors.New("server: policy, enforcer, pseudonymizer and digester are required")
	}
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	reg := opt.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	s := &Server{cfg: cfg, log: log, registry: reg, ready: opt.Ready, metrics: middleware.NewMetrics(reg),
		bodies: memguard.NewBudget(BodyBudget(cfg.Limits)), calls: memguard.NewCalls(cfg.Limits.MaxCallsPerApp),
		proxyTLS: opt.ProxyTLS, adminTLS: opt.AdminTLS, guard: opt.AuthGuard}

	px, err := proxy.New(proxy.Options{
		Upstream: cfg.Upstream.URL, APIKey: cfg.Upstream.APIKey,
		Timeout: cfg.Upstream.Timeout, ConnectTimeout: cfg.Upstream.ConnectTimeout,
		Transport: opt.Transport, Logger: log, Observe: s.metrics.ObserveUpstream,
	})
	if err != nil {
		return nil, err
	}

	chain := middleware.NewChain(middleware.ChainOptions{
		Logger: log, Metrics: s.metrics, ReadDeadline: cfg.Limits.ReadHeaderTimeout,
		AuthGuard: opt.AuthGuard, Apps: Apps(cfg),
		Route: middleware.RouteOptions{AllowPaths: cfg.AllowPaths},
		Admission: middleware.AdmissionOptions{Bodies: s.bodies, Calls: s.calls,
			MaxBody: cfg.Limits.MaxBodyBytes, MaxDepth: cfg.Limits.MaxJSONDepth},
		// read_header_timeout bounds the body read too (no ReadTimeout on
		// the http.Server: it would end long streams).
		Body: middleware.BodyOptions{MaxBytes: cfg.Limits.MaxBodyBytes, MaxDepth: cfg.Limits.MaxJSONDepth,
			ReadTimeout: cfg.Limits.ReadHeaderTimeout},
		EndUser:    opt.Pseudonymizer,
		Enforcer:   opt.Enforcer,
		Statements: opt.Statements,
		Inspect: middleware.InspectOptions{
			Policy: opt.Policy, Enforcer: opt.Enforcer, Digester: opt.Digester, ZDR: cfg.ZDR, Logger: log,
		},
		Forward: middleware.ForwardOptions{
			Proxy: px, ZDR: cfg.ZDR, Enforcer: opt.Enforcer, Digester: opt.Digester, Logger: log,
			Served: opt.Served,
		},
		// A parallel classifier's verdict is applied to every answer, so the
		// hook is always on; Answers checks the answers of apps with
		// answer_check on.
		Answer: &middleware.AnswerOptions{
			Checker: opt.Answers, Enforcer: opt.Enforcer, Digester: opt.Digester, Logger: log,
		},
	})
	s.proxyH = newEngine()
	s.proxyH.Use(chain.Every...)
	s.health(s.proxyH)
	if opt.AppAPI != nil {
		appAPI := append(chain.AppAuth, func(c *gin.Context) {
			st := middleware.StateOf(c)
			st.Label = "aup_api"
			opt.AppAPI(c, st.App.Name)
		})
		s.proxyH.Any("/aup/v1/*rest", appAPI...)
	}
	// The pipeline, in the order of middleware/chain.go.
	s.proxyH.NoRoute(chain.Pipeline...)

	s.adminH = newEngine()
	s.adminH.Use(middleware.RequestID(), middleware.AccessLog(log), middleware.Recovery(log))
	s.health(s.adminH)
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	s.adminH.GET("/metrics", func(c *gin.Context) {
		middleware.StateOf(c).Label = "metrics"
		metrics.ServeHTTP(c.Writer, c.Request)
	})
	if cfg.Log.Pprof {
		s.adminH.Any("/debug/pprof/*profile", gin.WrapF(pprofHandler))
	}
	if opt.Admin != nil {
		opt.Admin(s.adminH)
	}
	return s, nil
}

// DefaultBodyMemoryFactor: without limits.body_memory, request bodies
// and what is built from them may take this many times max_body_bytes.
const DefaultBodyMemoryFactor = 64

// BodyBudget is the memory request bodies may take at once.
func BodyBudget(l config.Limits) int64 {
	if l.BodyMemory > 0 {
		return l.BodyMemory
	}
	return DefaultBodyMemoryFactor * l.MaxBodyBytes
}

// Bodies is the request-body memory budget (its methods are the counters).
func (s *Server) Bodies() *memguard.Budget { return s.bodies }

// AuthGuard is the failed-authentication throttle (its methods are the
// counters); nil when off.
func (s *Server) AuthGuard() *authguard.Guard { return s.guard }

// Calls is the per-app cap on model calls in flight; nil when unbounded.
func (s *Server) Calls() *memguard.Calls { return s.calls }

// Apps turns the configured apps into the pipeline's view of them.
func Apps(cfg *config.Config) []*middleware.App {
	apps := make([]*middleware.App, 0, len(cfg.Apps))
	for _, a := range cfg.Apps {
		rl := cfg.AppRateLimits(a)
		apps = append(apps, &middleware.App{
			Name: a.Name, KeyDigest: a.KeyDigest(), Models: a.Models,
			EndUserOptional: a.EndUserOptional, ZDR: a.ZDR, AnswerCheck: cfg.AppAnswerCheck(a),
			UserPerMinute: rl.EndUserPerMinute, AppPerMinute: rl.AppPerMinute,
			OperatorRoles: a.OperatorRoles, Providers: providerRule(a.Providers),
		})
	}
	return apps
}

func newEngine() *gin.Engine {
	e := gin.New()
	// The path guard sees every path as sent: no redirects, no cleaning.
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	e.HandleMethodNotAllowed = false
	e.RemoveExtraSlash = false
	e.ContextWithFallback = true
	return e
}

func (s *Server) health(e *gin.Engine) {
	e.GET("/healthz", func(c *gin.Context) {
		middleware.StateOf(c).Label = "health"
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusOK, gin.H{"status": "ok"})
	})
	e.GET("/readyz", func(c *gin.Context) {
		middleware.StateOf(c).Label = "ready"
		c.Header("Cache-Control", "no-store")
		if s.draining.Load() {
			c.JSON(http.StatusServiceUnavailable, gin.H{"status": "draining"})
			return
		}
		if s.ready != nil {
			ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
			defer cancel()
			if err := s.ready(ctx); err != nil {
				// The error may name hosts; it goes to the log, not the answer.
				s.log.Warn("not ready", "error", err.Error())
				c.JSON(http.StatusServiceUnavailable, gin.H{"status": "not ready"})
				return
			}
		}
		c.JSON(http.StatusOK, gin.H{"status": "ok"})
	})
}

// ProxyHandler serves the proxy listener.
func (s *Server) ProxyHandler() http.Handler { return s.proxyH }

// AdminHandler serves the admin listener.
func (s *Server) AdminHandler() http.Handler { return s.adminH }

// Registry holds the gateway's metrics.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// Run listens on the configured addresses until ctx ends, then shuts down.
func (s *Server) Run(ctx context.Context) error {
	lp, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return err
	}
	la, err := net.Listen("tcp", s.cfg.AdminListen)
	if err != nil {
		lp.Close()
		return err
	}
	return s.Serve(ctx, lp, la)
}

// Serve serves on the given listeners until ctx ends or one fails. Then
// /readyz turns 503, no new connections are accepted, and requests in
// flight (streams included) get limits.shutdown_grace to finish before
// their connections are closed.
func (s *Server) Serve(ctx context.Context, proxyLn, adminLn net.Listener) error {
	s.mu.Lock()
	s.proxyAddr, s.adminAddr = proxyLn.Addr(), adminLn.Addr()
	s.mu.Unlock()
	// The handshake is bounded like the headers: net/http gives it
	// ReadHeaderTimeout.
	if s.proxyTLS != nil {
		proxyLn = tls.NewListener(proxyLn, s.proxyTLS)
	}
	if s.adminTLS != nil {
		adminLn = tls.NewListener(adminLn, s.adminTLS)
	}
	mk := func(h http.Handler) *http.Server {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: s.cfg.Limits.ReadHeaderTimeout,
			IdleTimeout:       120 * time.Second,
			MaxHeaderBytes:    64 << 10,
			// "OPTIONS *" goes through the pipeline too (and is refused).
			DisableGeneralOptionsHandler: true,
			// No ReadTimeout/WriteTimeout: they would cut long streams.
			ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		}
	}
	ps, as := mk(s.proxyH), mk(s.adminH)
	errc := make(chan error, 2)
	go func() { errc <- ps.Serve(proxyLn) }()
	go func() { errc <- as.Serve(adminLn) }()
	s.log.Info("aupguard listening", "proxy", proxyLn.Addr().String(), "admin", adminLn.Addr().String(),
		"proxy_tls", s.proxyTLS != nil, "admin_tls", s.adminTLS != nil)

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			runErr = err
		}
	}
	s.draining.Store(true)
	grace := s.cfg.Limits.ShutdownGrace
	s.log.Info("shutting down", "grace", grace.String())
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	var wg sync.WaitGroup
	for _, srv := range []*http.Server{ps, as} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := srv.Shutdown(sctx); err != nil {
				s.log.Warn("grace period over: closing remaining connections")
				srv.Close()
			}
		}()
	}
	wg.Wait()
	return runErr
}

// Addrs returns the listening addresses once Serve has started.
func (s *Server) Addrs() (proxyAddr, adminAddr net.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proxyAddr, s.adminAddr
}

// pprofHandler serves net/http/pprof's pages (log.pprof: true).
func pprofHandler(w http.ResponseWriter, r *http.Request) {
	switch strings.TrimPrefix(r.URL.Path, "/debug/pprof/") {
	case "cmdline":
		pprof.Cmdline(w, r)
	case "profile":
		pprof.Profile(w, r)
	case "symbol":
		pprof.Symbol(w, r)
	case "trace":
		pprof.Trace(w, r)
	default:
		pprof.Index(w, r)
	}
}

// The subprocessor register's recorder fits the pipeline's hook.
var _ middleware.ServedRecorder = (*register.Recorder)(nil)

// providerRule is an app's provider constraint for the pipeline; nil when
// it has none.
func providerRule(p config.AppProviders) *wire.ProviderRule {
	if len(p.Only) == 0 && len(p.Ignore) == 0 {
		return nil
	}
	return &wire.ProviderRule{Only: p.Only, Ignore: p.Ignore}
}

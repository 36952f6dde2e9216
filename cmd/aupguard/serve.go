package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/gateway"
	"github.com/aupguard/aupguard/internal/logsink"
	"github.com/aupguard/aupguard/internal/memguard"
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
	log, sink := newLogger(cfg.Log.Level)
	defer sink.Close()
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

// newLogger writes JSON lines to stderr in batches (one write per 50 ms
// or 64 KiB: an access-log line per request costs less), warnings and
// errors at once. A hard kill can lose up to 50 ms of info lines.
func newLogger(level string) (*slog.Logger, *logsink.Writer) {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	sink := logsink.New(os.Stderr, 0, 0)
	h := slog.NewJSONHandler(sink, &slog.HandlerOptions{Level: lv})
	return slog.New(logsink.Handler(h, sink, slog.LevelWarn)), sink
}

// serve runs the gateway until ctx ends; SIGHUP reloads its policies and
// certificates.
func serve(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	g, err := gateway.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer g.Close()

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				g.Reload(ctx, log)
			}
		}
	}()
	return g.Run(ctx)
}

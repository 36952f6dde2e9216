package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aupguard/aupguard/internal/store"
)

// redisLog sends go-redis's own messages (dial failures, reconnects) to the
// gateway's structured log instead of the library's default stderr logger,
// so every line the gateway writes goes through one handler. go-redis logs
// addresses and errors, never command arguments.
type redisLog struct{ log *slog.Logger }

func (r redisLog) Printf(_ context.Context, format string, v ...any) {
	r.log.Warn("redis client", "message", fmt.Sprintf(format, v...))
}

// routeLibraryLogs points process-wide library loggers at log.
func routeLibraryLogs(log *slog.Logger) { redis.SetLogger(redisLog{log}) }

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

package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
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

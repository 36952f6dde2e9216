package gateway

import (
	"log/slog"

	"github.com/aupguard/aupguard/internal/register"
	"github.com/aupguard/aupguard/internal/store"
)

// startRegister starts the subprocessor register's recorder: counts of
// which providers served each app, flushed to st every
// register.DefaultFlushInterval (a crash loses at most that much).
func startRegister(st store.Store, log *slog.Logger) *register.Recorder {
	return register.New(st, register.Options{Logger: log})
}

// Register is the subprocessor register's recorder (tests flush it).
func (g *Gateway) Register() *register.Recorder { return g.register }

package server

import (
	"testing"

	"github.com/aupguard/aupguard/internal/config"
	"github.com/aupguard/aupguard/internal/wire"
)

// config cannot import wire; the two must agree on the parse factor that
// body_memory is validated against.
func TestParseFactorAgrees(t *testing.T) {
	if config.MaxParseFactor != wire.MaxParseFactor {
		t.Fatalf("config.MaxParseFactor %d, wire.MaxParseFactor %d", config.MaxParseFactor, wire.MaxParseFactor)
	}
	l := config.Default().Limits
	if BodyBudget(l) != DefaultBodyMemoryFactor*l.MaxBodyBytes {
		t.Fatal("default body memory")
	}
	l.BodyMemory = 200 << 20
	if BodyBudget(l) != 200<<20 {
		t.Fatal("configured body memory")
	}
}

package all_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/aupguard/aupguard/internal/redistest"
	"github.com/aupguard/aupguard/internal/store"
	_ "github.com/aupguard/aupguard/internal/store/all"
)

func TestOpenDispatches(t *testing.T) {
	srv := redistest.Start(t)
	for _, u := range []string{"bolt://" + filepath.Join(t.TempDir(), "x.db"), srv.URL()} {
		s, err := store.Open(context.Background(), u)
		if err != nil {
			t.Fatalf("Open(%s): %v", u, err)
		}
		if err := s.Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
}

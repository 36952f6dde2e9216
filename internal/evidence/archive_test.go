package evidence

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
)

type flakyStore struct {
	mu   sync.Mutex
	down bool
	kept map[string]map[string][]byte
}

func (s *flakyStore) PutPolicyVersion(ctx context.Context, hash string, files map[string][]byte) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return false, errors.New("store down")
	}
	if _, ok := s.kept[hash]; ok {
		return false, nil
	}
	s.kept[hash] = files
	return true, nil
}

// A version the store cannot take waits in memory and is stored by the
// next Flush once the store is back.
func TestPolicyArchiveRetries(t *testing.T) {
	st := &flakyStore{kept: map[string]map[string][]byte{}}
	a := NewPolicyArchive(st, nil)
	a.Put("p1", map[string][]byte{"a.rego": []byte("package a\n")})
	st.down = true
	a.Put("p2", map[string][]byte{"a.rego": []byte("package a\n# 2\n")})
	if got := a.Pending(); !slices.Equal(got, []string{"p2"}) {
		t.Fatalf("pending %v", got)
	}
	if err := a.Flush(context.Background()); err == nil {
		t.Fatal("flush with the store down succeeded")
	}
	st.down = false
	if err := a.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(a.Pending()) != 0 || st.kept["p1"] == nil || string(st.kept["p2"]["a.rego"]) != "package a\n# 2\n" {
		t.Fatalf("pending %v, kept %v", a.Pending(), st.kept)
	}
}

package redistest

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestStartKillRestartKeepsData(t *testing.T) {
	s := Start(t, Options{Persistent: true})
	ctx := context.Background()
	c := s.Client()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if s.Addr == "127.0.0.1:6379" {
		t.Fatal("test used the machine's Redis")
	}
	s.Kill()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("server still answers after Kill")
	}
	s.Restart()
	if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("after restart: %q %v", v, err)
	}
	if !strings.Contains(s.URL(), "prefix=") {
		t.Fatalf("URL %s", s.URL())
	}
}

func TestNotPersistentByDefault(t *testing.T) {
	s := Start(t, Options{Private: true})
	ctx := context.Background()
	c := s.Client()
	c.Set(ctx, "k", "v", 0)
	s.Restart()
	if n, _ := c.Exists(ctx, "k").Result(); n != 0 {
		t.Fatal("data survived a restart without persistence")
	}
}

// fatalTB records Fatalf instead of failing the real test.
type fatalTB struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.msg = format
	f.mu.Unlock()
	runtime.Goexit()
}

func TestMissingServerFailsLoudly(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("REDIS_URL", "")
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(f)
	}()
	<-done
	if !strings.Contains(f.msg, "install") {
		t.Fatalf("no install hint: %q", f.msg)
	}
}

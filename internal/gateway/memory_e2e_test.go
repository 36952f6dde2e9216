package gateway

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aupguard/aupguard/internal/config"
)

// memShape builds a chat body of size bytes around one adversarial pattern.
func memShape(name string, size int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"Hello"}],`)
	fill := func(open, unit, close string) {
		b.WriteString(open)
		for b.Len() < size-len(unit)-len(close) {
			b.WriteString(unit)
		}
		b.WriteString(close)
	}
	switch name {
	case "numbers":
		fill(`"x":[0`, ",0", "]}")
	case "tiny-strings":
		fill(`"x":["a"`, `,"a"`, "]}")
	case "empty-objects":
		fill(`"x":[{}`, ",{}", "]}")
	case "deep":
		unit := "," + strings.Repeat(`{"a":`, 60) + "0" + strings.Repeat("}", 60)
		fill(`"x":[0`, unit, "]}")
	}
	return b.Bytes()
}

// heapPeak samples the heap until stop is closed and returns the largest
// HeapAlloc seen.
func heapPeak(stop chan struct{}) func() uint64 {
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { <-done; return peak.Load() }
}

// memBound is the documented bound (docs/security.md, "Bounded memory"):
// with the memory limit at body_memory + 128 MiB, the heap stays below it.
const memBound = 128 << 20

// 64 concurrent 4 MiB bodies of the costliest shapes: the gateway answers
// every one (200, or 503 overloaded with Retry-After), its heap stays
// within body_memory + 128 MiB, its accounting returns to zero and it
// keeps answering.
func TestBoundedMemoryUnderAdversarialBodies(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}`)
	}))
	defer up.Close()
	dir := t.TempDir()
	t.Setenv("OPENROUTER_API_KEY", "sk-or-op")
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
upstream: {url: %q}
store: %q
spool_dir: %q
secrets: {signing_key_file: %q}
rate_limits: {end_user_per_minute: 0}
apps: [{name: web, key: mem-app-key}]
`, up.URL, "bolt://"+filepath.Join(dir, "a.db"), filepath.Join(dir, "spool"), filepath.Join(dir, "k"))), "mem")
	if err != nil {
		t.Fatal(err)
	}
	g, proxy, _, _ := runGateway(t, cfg, slog.New(slog.DiscardHandler))
	budget := g.server.Bodies().Max()
	if budget != 64*cfg.Limits.MaxBodyBytes {
		t.Fatalf("default body_memory %d", budget)
	}
	// What ApplyLimit sets in a container of about 430 MiB.
	old := debug.SetMemoryLimit(budget + memBound)
	defer debug.SetMemoryLimit(old)

	shapes := []string{"numbers", "tiny-strings", "empty-objects", "deep"}
	bodies := make([][]byte, len(shapes))
	for i, s := range shapes {
		bodies[i] = memShape(s, int(cfg.Limits.MaxBodyBytes))
	}
	send := func(body []byte) (int, http.Header, string, error) {
		req, _ := http.NewRequest("POST", proxy+"/api/v1/chat/completions", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer mem-app-key")
		req.Header.Set("X-AUP-End-User", "u1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b), nil
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	stop := make(chan struct{})
	peak := heapPeak(stop)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	var bad []string
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, h, body, err := send(bodies[i%len(bodies)])
			mu.Lock()
			defer mu.Unlock()
			codes[code]++
			switch {
			case err != nil:
				bad = append(bad, err.Error())
			case code == 503 && (h.Get("Retry-After") != "1" || !strings.Contains(body, `"reason":"overloaded"`)):
				bad = append(bad, "503 without Retry-After or reason: "+body)
			case code != 200 && code != 503:
				bad = append(bad, fmt.Sprintf("%d %.200s", code, body))
			}
		}()
	}
	wg.Wait()
	close(stop)
	above := peak() - base
	t.Logf("64 × 4 MiB: codes %v, peak heap %d MiB above %d MiB (bound %d MiB)", codes, above>>20, base>>20, (budget+memBound)>>20)
	if len(bad) > 0 {
		t.Fatalf("%d bad answers, e.g. %s", len(bad), bad[0])
	}
	if codes[200] == 0 {
		t.Error("nothing was admitted")
	}
	if above > uint64(budget+memBound) {
		t.Errorf("heap peaked %d MiB above the baseline, over body_memory + 128 MiB = %d MiB", above>>20, (budget+memBound)>>20)
	}
	if n := g.server.Bodies().InUse(); n != 0 {
		t.Errorf("%d bytes still held after every request finished", n)
	}
	if code, _, body, err := send([]byte(`{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}`)); err != nil || code != 200 {
		t.Fatalf("after the burst: %d %v %s", code, err, body)
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// profiler fetches the gateway's CPU profile over a section and its
// allocation profile at the end, from net/http/pprof on the admin listener
// (log.pprof: true). They are for `go tool pprof`, not for the report.
type profiler struct {
	admin, dir, name string
	done             chan error
	files            []string
}

func startProfile(ctx context.Context, admin string, span time.Duration, dir, name string) *profiler {
	p := &profiler{admin: admin, dir: dir, name: name, done: make(chan error, 1)}
	secs := max(1, int(span.Round(time.Second)/time.Second))
	go func() {
		p.done <- p.fetch(ctx, fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), name+".cpu.pprof", span+time.Minute)
	}()
	return p
}

// finish waits for the CPU profile, then takes the allocation profile.
func (p *profiler) finish() error {
	err := <-p.done
	return errors.Join(err, p.fetch(context.Background(), "/debug/pprof/allocs", p.name+".allocs.pprof", time.Minute))
}

func (p *profiler) fetch(ctx context.Context, path, file string, timeout time.Duration) error {
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.admin+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %d %s", path, resp.StatusCode, b)
	}
	out := filepath.Join(p.dir, file)
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	p.files = append(p.files, out)
	return f.Close()
}

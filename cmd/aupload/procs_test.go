package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && !strings.HasPrefix(string(b[i+1:]), " Z")
}

// stop kills what a process left behind in its group, not just itself.
func TestStopKillsTheProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "grandchild")
	// The shell starts a grandchild, records its pid and ignores SIGTERM.
	cmd := newCmd(context.Background(), "/bin/sh", "-c", `trap "" TERM; sleep 30 & echo $! > `+pidFile+`; wait`)
	p, err := startProc(cmd)
	if err != nil {
		t.Fatal(err)
	}
	var grand int
	for i := 0; i < 200 && grand == 0; i++ { // bounded: 10s at most
		if b, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(b), "\n") {
			grand, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if grand == 0 {
		p.stop(0, 0)
		t.Fatal("the grandchild never started")
	}
	p.stop(syscall.SIGTERM, 100*time.Millisecond)
	for i := 0; i < 100 && alive(grand); i++ {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(p.pid()) || alive(grand) {
		t.Errorf("still running after stop: shell %v, grandchild %v", alive(p.pid()), alive(grand))
	}
}

// Cancelling the context a command was made with kills it too.
func TestCancelKillsTheProcess(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p, err := startProc(newCmd(ctx, "sleep", "60"))
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.stop(0, 0)
		t.Fatal("sleep outlived its context")
	}
}

// A child process never starts children, and no run starts more than
// maxProcs processes: the two guards against a fork loop.
func TestSpawnGuards(t *testing.T) {
	t.Run("child", func(t *testing.T) {
		t.Setenv(childEnv, "upstream")
		if c, err := startChild(context.Background(), "upstream", nil); err == nil {
			c.Close()
			t.Fatal("a child process started a child")
		}
	})
	t.Run("count", func(t *testing.T) {
		procs.Lock()
		saved := procs.started
		procs.started = maxProcs
		procs.Unlock()
		defer func() {
			procs.Lock()
			procs.started = saved
			procs.Unlock()
		}()
		p, err := startProc(newCmd(context.Background(), "sleep", "60"))
		if err == nil {
			p.stop(syscall.SIGKILL, 0)
			t.Fatal("started a process past maxProcs")
		}
		if !strings.Contains(err.Error(), "more than") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("plain exec.Cmd", func(t *testing.T) {
		if _, err := startProc(newCmdWithout(context.Background())); err == nil {
			t.Errorf("a command without its own process group was started: %v", err)
		}
	})
}

func newCmdWithout(ctx context.Context) *exec.Cmd {
	c := newCmd(ctx, "true")
	c.SysProcAttr = nil
	return c
}

// A child serves what it was asked for and exits when its stdin closes.
func TestChildServesAndStops(t *testing.T) {
	c, err := startChild(context.Background(), "upstream", nil)
	if err != nil {
		t.Fatal(err)
	}
	pid := c.PID()
	if pid == os.Getpid() || !alive(pid) {
		t.Fatalf("child pid %d", pid)
	}
	req, _ := http.NewRequest(http.MethodGet, c.BaseURL()+"/api/v1/models", nil)
	req.Header.Set("Authorization", "Bearer "+upstreamKey)
	if resp, err := (&http.Client{Timeout: 10 * time.Second, Transport: newTransport(1)}).Do(req); err != nil {
		t.Error(err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET models: %d", resp.StatusCode)
		}
	}
	c.Close()
	if alive(pid) {
		t.Errorf("child %d still running after Close", pid)
	}
}

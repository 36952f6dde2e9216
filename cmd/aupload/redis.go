package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// redisServer is a private redis-server without persistence.
type redisServer struct {
	p    *proc
	addr string
	dir  string
}

// startRedis starts one; extra are more redis-server arguments (cluster mode).
func startRedis(ctx context.Context, extra ...string) (*redisServer, error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, errors.New("--store redis needs redis-server on PATH (apt-get install redis-server), or use --store bolt")
	}
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	dir, err := os.MkdirTemp("", "aupload-redis-")
	if err != nil {
		return nil, err
	}
	args := []string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--maxclients", "10000"}
	cmd := newCmd(ctx, path, append(args, extra...)...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	pr, err := startProc(cmd)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	r := &redisServer{p: pr, addr: addr, dir: dir}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if redisPing(addr) == nil {
			return r, nil
		}
		select {
		case <-pr.done:
			os.RemoveAll(dir)
			return nil, fmt.Errorf("redis-server exited:\n%s", out.String())
		case <-ctx.Done():
			r.Close()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.Close()
			return nil, fmt.Errorf("redis-server on %s did not answer PING:\n%s", addr, out.String())
		}
	}
}

func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	l, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(l, "+PONG") {
		return fmt.Errorf("PING answered %q", l)
	}
	return nil
}

func (r *redisServer) URL() string { return "redis://" + r.addr + "/0" }

func (r *redisServer) Close() {
	r.p.stop(syscall.SIGTERM, 5*time.Second)
	os.RemoveAll(r.dir)
}

// syncBuffer is a bytes.Buffer that a process's output pipes may write
// while the harness reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

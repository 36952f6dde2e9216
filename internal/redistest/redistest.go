// Package redistest starts a private redis-server for a test: on a free
// port, with its files in t.TempDir(), persistence off (unless asked for),
// stopped when the test ends. When REDIS_URL is set, tests use that server
// instead, isolated by a random key prefix. A missing redis-server fails the
// test: Redis tests are never skipped.
package redistest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a Redis for one test.
type Server struct {
	t       testing.TB
	Addr    string // host:port
	Prefix  string // key prefix tests must use (random when REDIS_URL is shared)
	baseURL string
	dir     string
	persist bool
	extra   []string // more redis-server arguments

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Options for Start.
type Options struct {
	// Persistent turns on the append-only file with fsync on every write,
	// so data survives Kill and Restart (fault tests).
	Persistent bool
	// Private insists on a private server even when REDIS_URL is set
	// (needed to Kill and Restart it).
	Private bool
}

// Start returns a running Redis for t.
func Start(t testing.TB, opts ...Options) *Server {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if u := os.Getenv("REDIS_URL"); u != "" && !o.Private && !o.Persistent {
		s := &Server{t: t, baseURL: u, Prefix: "t" + randHex(6)}
		s.wait(10 * time.Second)
		return s
	}
	return startPrivate(t, o, nil)
}

func lookPath(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redistest: redis-server not found in PATH (%v): install it (Debian/Ubuntu: apt-get install redis-server) or set REDIS_URL to a server tests may use", err)
	}
	return bin
}

func startPrivate(t testing.TB, o Options, extra []string) *Server {
	t.Helper()
	bin := lookPath(t)
	s := &Server{t: t, dir: t.TempDir(), persist: o.Persistent, Prefix: "aup", extra: extra}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	s.baseURL = "redis://" + s.Addr + "/0"
	s.start(bin)
	t.Cleanup(s.Kill)
	return s
}

// Cluster is a private Redis Cluster: masters only, slots split evenly.
type Cluster struct {
	Nodes  []*Server
	Prefix string
}

// StartCluster starts n private redis-servers in cluster mode, assigns
// the 16384 slots and waits until the cluster reports state ok.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{Prefix: "aup"}
	for range n {
		c.Nodes = append(c.Nodes, startPrivate(t, Options{}, []string{
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000",
		}))
	}
	ctx := context.Background()
	const slots = 16384
	for i, s := range c.Nodes {
		cl := s.Client()
		lo, hi := i*slots/n, (i+1)*slots/n-1
		if err := cl.ClusterAddSlotsRange(ctx, lo, hi).Err(); err != nil {
			t.Fatalf("redistest: cluster addslots: %v", err)
		}
		if i > 0 {
			host, port, _ := net.SplitHostPort(s.Addr)
			if err := c.Nodes[0].Client().ClusterMeet(ctx, host, port).Err(); err != nil {
				t.Fatalf("redistest: cluster meet: %v", err)
			}
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, s := range c.Nodes {
		cl := s.Client()
		for {
			info, err := cl.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d", n)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redistest: cluster not ok: %v %s", err, info)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return c
}

// URL is a redis+cluster:// store URL for the cluster with the given key prefix.
func (c *Cluster) URL(prefix string) string {
	var addrs []string
	for _, s := range c.Nodes {
		addrs = append(addrs, s.Addr)
	}
	return "redis+cluster://" + strings.Join(addrs, ",") + "?prefix=" + prefix
}

// URL is the store URL for this server, with the test's key prefix.
func (s *Server) URL() string { return s.URLWithPrefix(s.Prefix) }

// URLWithPrefix is URL with another key prefix, so several stores can share
// one server without seeing each other's keys.
func (s *Server) URLWithPrefix(prefix string) string {
	sep := "?"
	if strings.Contains(s.baseURL, "?") {
		sep = "&"
	}
	return s.baseURL + sep + "prefix=" + prefix
}

// Client returns a plain client to the server, closed with the test.
func (s *Server) Client() *redis.Client {
	o, err := redis.ParseURL(s.baseURL)
	if err != nil {
		s.t.Fatalf("redistest: %v", err)
	}
	c := redis.NewClient(o)
	s.t.Cleanup(func() { c.Close() })
	return c
}

func (s *Server) start(bin string) {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(s.Addr)
	args := []string{"--port", port, "--bind", "127.0.0.1", "--dir", s.dir, "--save", "", "--daemonize", "no", "--logfile", "", "--protected-mode", "no"}
	if s.persist {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	args = append(args, s.extra...)
	cmd := exec.Command(bin, args...)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("redistest: starting redis-server: %v", err)
	}
	done := make(chan struct{})
	var logMu sync.Mutex
	var log []string
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			logMu.Lock()
			if len(log) < 200 {
				log = append(log, sc.Text())
			}
			logMu.Unlock()
		}
		cmd.Wait()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	if err := s.ready(10*time.Second, done); err != nil {
		cmd.Process.Kill()
		logMu.Lock()
		defer logMu.Unlock()
		s.t.Fatalf("redistest: redis-server on %s not ready: %v\n%s", s.Addr, err, strings.Join(log, "\n"))
	}
}

// ready polls PING until the deadline (startup time is not under test).
func (s *Server) ready(limit time.Duration, exited chan struct{}) error {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(limit)
	var err error
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err = c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return err
}

func (s *Server) wait(limit time.Duration) {
	o, err := redis.ParseURL(s.baseURL)
	if err != nil {
		s.t.Fatalf("redistest: REDIS_URL: %v", err)
	}
	s.Addr = o.Addr
	if err := s.ready(limit, make(chan struct{})); err != nil {
		s.t.Fatalf("redistest: REDIS_URL %s not reachable: %v", s.Addr, err)
	}
}

// Kill stops the server at once (SIGKILL), like a crash.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-done
}

// Restart starts the server again on the same address (after Kill). With
// Persistent, the data written before the kill is back.
func (s *Server) Restart() {
	s.t.Helper()
	if s.dir == "" {
		s.t.Fatalf("redistest: Restart needs a private server (Options.Private)")
	}
	s.Kill()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		s.t.Fatalf("redistest: %v", err)
	}
	s.start(bin)
}

// Keys returns every key of this server (with the test's prefix when shared).
func (s *Server) Keys() []string {
	c := s.Client()
	var out []string
	iter := c.Scan(context.Background(), 0, "*"+s.Prefix+"*", 1000).Iterator()
	for iter.Next(context.Background()) {
		out = append(out, iter.Val())
	}
	if err := iter.Err(); err != nil {
		s.t.Fatalf("redistest: scan: %v", err)
	}
	return out
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: no free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Dir is the server's working directory (AOF files), "" for REDIS_URL.
func (s *Server) Dir() string { return filepath.Clean(s.dir) }

package scale

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is a private redis-server this process started: on a free
// port, files in dir, no persistence, no memory limit.
type redisServer struct {
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

// streamNodeBytes > 0 sets stream-node-max-bytes (Redis's default 4096 is
// also what it preallocates for every new stream).
func startRedis(ctx context.Context, dir string, streamNodeBytes int) (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("scale: redis-server not found: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &redisServer{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), done: make(chan struct{})}
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--maxmemory", "0", "--daemonize", "no",
		"--protected-mode", "no", "--logfile", ""}
	if streamNodeBytes > 0 {
		args = append(args, "--stream-node-max-bytes", strconv.Itoa(streamNodeBytes))
	}
	s.cmd = exec.Command(bin, args...)
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("scale: starting redis-server: %w", err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	c := redis.NewClient(&redis.Options{Addr: s.addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-s.done:
			return nil, fmt.Errorf("scale: redis-server exited at start")
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err := c.Ping(pctx).Err()
		cancel()
		if err == nil {
			return s, nil
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("scale: redis-server not ready: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// url gives bulk pipelines time: a batch of scripts on a busy machine can
// take longer than the client's default 3 s read timeout.
func (s *redisServer) url() string {
	return "redis://" + s.addr + "/0?read_timeout=60s&write_timeout=60s"
}

// stop kills the server this process started (only that one).
func (s *redisServer) stop() {
	s.cmd.Process.Kill()
	<-s.done
}

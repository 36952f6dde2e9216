package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// redisStore is the Redis the scale-out replicas share: one server, or the
// nodes of a cluster.
type redisStore struct {
	nodes []*redisServer
	url   string // the gateways' store URL
	kind  string // "single" | "cluster"
}

func (r *redisStore) addrs() []string {
	var a []string
	for _, n := range r.nodes {
		a = append(a, n.addr)
	}
	return a
}

func (r *redisStore) Close() {
	for _, n := range r.nodes {
		n.Close()
	}
}

func startSingle(ctx context.Context) (*redisStore, error) {
	rs, err := startRedis(ctx)
	if err != nil {
		return nil, err
	}
	return &redisStore{nodes: []*redisServer{rs}, url: rs.URL(), kind: "single"}, nil
}

// startCluster starts n masters in cluster mode, splits the 16384 slots
// evenly, joins them and waits for cluster_state:ok on every node (as
// internal/redistest does for the store's tests; no replicas, no failover).
func startCluster(ctx context.Context, n int) (*redisStore, error) {
	st := &redisStore{kind: "cluster"}
	fail := func(err error) (*redisStore, error) { st.Close(); return nil, err }
	for range n {
		rs, err := startRedis(ctx, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000")
		if err != nil {
			return fail(err)
		}
		st.nodes = append(st.nodes, rs)
	}
	const slots = 16384
	for i, rs := range st.nodes {
		if _, err := respDo(rs.addr, "CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(i*slots/n), strconv.Itoa((i+1)*slots/n-1)); err != nil {
			return fail(fmt.Errorf("cluster addslots: %w", err))
		}
		if i > 0 {
			host, port, _ := net.SplitHostPort(rs.addr)
			if _, err := respDo(st.nodes[0].addr, "CLUSTER", "MEET", host, port); err != nil {
				return fail(fmt.Errorf("cluster meet: %w", err))
			}
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, rs := range st.nodes {
		for {
			info, err := respDo(rs.addr, "CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d", n)) {
				break
			}
			if time.Now().After(deadline) {
				return fail(fmt.Errorf("redis cluster not ok after 30s: %v %s", err, info))
			}
			select {
			case <-ctx.Done():
				return fail(ctx.Err())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	st.url = "redis+cluster://" + strings.Join(st.addrs(), ",")
	return st, nil
}

// respDo sends one command on a fresh connection and returns a simple,
// integer or bulk reply as text. The harness needs a few admin commands
// (CLUSTER, INFO), not a client library.
func respDo(addr string, args ...string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(c, b.String()); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("bad bulk reply %q", line)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}

// redisUse is what Redis has spent so far, summed over a store's nodes.
type redisUse struct {
	cpu    []time.Duration  // per node: used_cpu_user + used_cpu_sys
	byCmd  map[string]int64 // calls per command (cmdstat_*), the harness's own left out
	failed error
}

// Commands the harness or the client libraries send besides the requests'.
var adminCmds = map[string]bool{"info": true, "cluster|info": true, "cluster|slots": true, "cluster|shards": true, "cluster|nodes": true, "ping": true, "command": true, "hello": true, "client|setinfo": true, "client|setname": true}

func redisSnapshot(addrs []string) redisUse {
	u := redisUse{byCmd: map[string]int64{}}
	for _, a := range addrs {
		cpuInfo, err1 := respDo(a, "INFO", "cpu")
		cmdInfo, err2 := respDo(a, "INFO", "commandstats")
		if err := errors.Join(err1, err2); err != nil {
			u.failed = err
			return u
		}
		var secs float64
		for _, l := range strings.Split(cpuInfo, "\n") {
			k, v, _ := strings.Cut(strings.TrimSpace(l), ":")
			if k == "used_cpu_user" || k == "used_cpu_sys" {
				f, _ := strconv.ParseFloat(v, 64)
				secs += f
			}
		}
		u.cpu = append(u.cpu, time.Duration(secs*float64(time.Second)))
		for _, l := range strings.Split(cmdInfo, "\n") {
			name, rest, ok := strings.Cut(strings.TrimSpace(l), ":")
			name, isCmd := strings.CutPrefix(name, "cmdstat_")
			if !ok || !isCmd || adminCmds[name] {
				continue
			}
			calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
			n, _ := strconv.ParseInt(calls, 10, 64)
			u.byCmd[name] += n
		}
	}
	return u
}

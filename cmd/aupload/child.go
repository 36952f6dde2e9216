package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"
)

// Some servers run in a child process: this binary again, with childEnv
// set to what it should serve ("upstream", "floor URL" for a floor in
// front of the upstream at URL, or "upstream-tls DIR" for the upstream over
// TLS with its CA written into DIR). Two reasons:
//   - the floor in its own process, like the gateway, so the clients' work
//     and garbage collection in this process do not land on it alone;
//   - the fake upstream in its own process too, so that no target (direct,
//     floor or gateway) shares a runtime and a garbage collector with the
//     load generator;
//   - the idle-stream test needs many sockets: spread over processes.
//
// The child prints its base URL on stdout and serves until stdin closes.
const childEnv = "AUPLOAD_CHILD"

func serveChild(spec string) int {
	raiseFDLimit(0)
	var (
		s   *httpServer
		err error
	)
	switch kind, arg, _ := strings.Cut(spec, " "); kind {
	case "upstream":
		s, err = startUpstream()
	case "floor":
		s, err = startFloor(arg)
	case "upstream-tls":
		s, err = startUpstreamTLS(arg)
	default:
		err = fmt.Errorf("unknown %s=%q", childEnv, spec)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "aupload child:", err)
		return 1
	}
	if dir := os.Getenv(childProfileEnv); dir != "" {
		kind, _, _ := strings.Cut(spec, " ")
		if f, err := os.Create(filepath.Join(dir, kind+".cpu.pprof")); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer func() { pprof.StopCPUProfile(); f.Close() }()
			}
		}
	}
	fmt.Println(s.URL())
	io.Copy(io.Discard, os.Stdin) // the parent closes stdin (or dies): stop
	s.Close()
	return 0
}

// childProfileEnv names a directory for a child's CPU profile over its
// whole life (--profile: the floor's, to hold beside the gateway's).
const childProfileEnv = "AUPLOAD_CHILD_CPUPROFILE"

type child struct {
	p     *proc
	stdin io.Closer
	url   string
}

func (c *child) BaseURL() string { return c.url }
func (c *child) PID() int        { return c.p.pid() }

// startChild runs this binary again as the child spec, in its own process
// group (see procs.go), and waits for the URL it prints;
// place, when not nil, adjusts the command first (CPU pinning).
func startChild(ctx context.Context, spec string, place func(*exec.Cmd)) (*child, error) {
	// A child never starts children: a binary that fails to dispatch on
	// childEnv (a test binary without TestMain, say) must not fork forever.
	if os.Getenv(childEnv) != "" {
		return nil, fmt.Errorf("refusing to start child %q from a child process", spec)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := newCmd(ctx, exe)
	cmd.Env = append(os.Environ(), childEnv+"="+spec)
	if place != nil {
		place(cmd)
	}
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		in.Close()
		return nil, err
	}
	p, err := startProc(cmd)
	if err != nil {
		in.Close()
		return nil, err
	}
	c := &child{p: p, stdin: in}
	type answer struct {
		line string
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadString('\n')
		got <- answer{line, err}
	}()
	var a answer
	select {
	case a = <-got:
	case <-time.After(30 * time.Second):
		a.err = errors.New("no URL after 30s")
	case <-ctx.Done():
		a.err = ctx.Err()
	}
	if a.err != nil || !strings.HasPrefix(a.line, "http://") && !strings.HasPrefix(a.line, "https://") {
		c.Close()
		return nil, fmt.Errorf("child process %q did not start (%q, %v)", spec, a.line, a.err)
	}
	c.url = strings.TrimSpace(a.line)
	return c, nil
}

// Close ends the child: its stdin closes, it stops serving and exits; one
// that does not within 5s is killed with its group.
func (c *child) Close() {
	c.stdin.Close()
	c.p.stop(0, 5*time.Second)
}

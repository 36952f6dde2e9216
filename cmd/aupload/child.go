package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// Some servers run in a child process: this binary again, with childEnv
// set to what it should serve ("upstream", or "floor URL" for a floor in
// front of the upstream at URL). Two reasons:
//   - the floor in its own process, like the gateway, so the clients' work
//     and garbage collection in this process do not land on it alone;
//   - the idle-stream test may need more sockets than this process may
//     open (a client end and an upstream end per stream).
//
// The child prints its base URL on stdout and serves until stdin closes.
const childEnv = "AUPLOAD_CHILD"

func serveChild(spec string) int {
	raiseFDLimit()
	var (
		s   *httpServer
		err error
	)
	switch kind, arg, _ := strings.Cut(spec, " "); kind {
	case "upstream":
		s, err = startUpstream()
	case "floor":
		s, err = startFloor(arg)
	default:
		err = fmt.Errorf("unknown %s=%q", childEnv, spec)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "aupload child:", err)
		return 1
	}
	fmt.Println(s.URL())
	io.Copy(io.Discard, os.Stdin) // the parent closes stdin (or dies): stop
	s.Close()
	return 0
}

type child struct {
	cmd   *exec.Cmd
	stdin io.Closer
	url   string
}

func (c *child) BaseURL() string { return c.url }
func (c *child) PID() int        { return c.cmd.Process.Pid }

func startChild(spec string) (*child, error) {
	// A child never starts children: a binary that fails to dispatch on
	// childEnv (a test binary without TestMain, say) must not fork forever.
	if os.Getenv(childEnv) != "" {
		return nil, fmt.Errorf("refusing to start child %q from a child process", spec)
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"="+spec)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "http://") {
		in.Close()
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("child process %q did not start (%q, %v)", spec, line, err)
	}
	return &child{cmd: cmd, stdin: in, url: strings.TrimSpace(line)}, nil
}

func (c *child) Close() {
	c.stdin.Close()
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

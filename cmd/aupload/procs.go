package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Every process the harness starts (its own children, the gateway,
// redis-server) goes through here, so that none outlives it:
//   - it runs in its own process group, and stopping it kills the group;
//   - the kernel kills it when the harness dies (Pdeathsig), panics and
//     SIGKILL included;
//   - killAll, deferred by main and TestMain, kills whatever is still up;
//   - at most maxProcs are ever started in one run: a bug that loops over
//     spawning stops here instead of filling the machine.
const maxProcs = 16

var procs struct {
	sync.Mutex
	started int
	live    map[*proc]struct{}
	closed  bool
}

// proc is a started process.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited and been waited for
	err  error         // Wait's result, set before done closes
}

// newCmd is exec.CommandContext set up for startProc: cancelling ctx kills
// the whole process group.
func newCmd(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second // pipes a grandchild holds cannot block Wait
	return cmd
}

// startProc starts cmd (made by newCmd) and tracks it until it exits.
func startProc(cmd *exec.Cmd) (*proc, error) {
	if cmd.SysProcAttr == nil || !cmd.SysProcAttr.Setpgid {
		return nil, errors.New("aupload: startProc needs a command from newCmd")
	}
	procs.Lock()
	if procs.closed {
		procs.Unlock()
		return nil, errors.New("aupload: shutting down, not starting more processes")
	}
	if procs.started >= maxProcs {
		procs.Unlock()
		return nil, fmt.Errorf("aupload: refusing to start more than %d processes in one run", maxProcs)
	}
	procs.started++
	if err := cmd.Start(); err != nil {
		procs.Unlock()
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	if procs.live == nil {
		procs.live = map[*proc]struct{}{}
	}
	procs.live[p] = struct{}{}
	procs.Unlock()
	go func() {
		p.err = cmd.Wait()
		procs.Lock()
		delete(procs.live, p)
		procs.Unlock()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop asks the process to end with sig (0: send nothing, it was told some
// other way, e.g. its stdin closed), waits up to grace, then kills its
// group. (Once reaped its pid may be reused: no group kill after that.)
func (p *proc) stop(sig syscall.Signal, grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	if sig != 0 {
		p.cmd.Process.Signal(sig)
	}
	select {
	case <-p.done:
	case <-time.After(grace):
		killGroup(p.pid(), syscall.SIGKILL)
		<-p.done
	}
}

func killGroup(pid int, sig syscall.Signal) error {
	if pid <= 0 {
		return nil
	}
	err := syscall.Kill(-pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return err
}

// killAll kills every process still running and refuses new ones.
func killAll() {
	procs.Lock()
	procs.closed = true
	live := make([]*proc, 0, len(procs.live))
	for p := range procs.live {
		live = append(live, p)
	}
	procs.Unlock()
	for _, p := range live {
		killGroup(p.pid(), syscall.SIGKILL)
	}
	for _, p := range live {
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
	}
}

// output runs a short command (a build, a version query) to its end within
// timeout and returns its stdout (with stderr too when combined). It is
// set up like the long-running processes, but not counted in maxProcs.
func output(ctx context.Context, timeout time.Duration, dir string, combined bool, name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := newCmd(ctx, name, args...)
	cmd.Dir = dir
	if combined {
		return cmd.CombinedOutput()
	}
	return cmd.Output()
}

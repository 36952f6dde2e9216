package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// CPU pinning (--pin; by default every process shares all CPUs, the
// layout the design's bars are judged in). Shared, Go's scheduler moves a
// proxy's goroutines between CPUs that the load generator is using too, and
// each move costs cache refills; a proxy with a larger working set (the
// gateway's word lists, policies and state) pays more for it than a bare
// ReverseProxy. --pin shows what that costs: the proxies (floor and gateway
// alike) get CPUs of their own, the upper half, and the harness, the fake
// upstream and redis-server the lower half, as a gateway with its own cores
// or CPU quota would run. That run is a second table, not the bar: its
// bars are info only.

// cpuLayout is where the processes run; proxy is "" when not pinned.
type cpuLayout struct {
	proxy, load string // CPU lists as taskset takes them ("1", "4-7")
	taskset     string // path of taskset(1)
	note        string // why not pinned, for the report
}

// pinning decides the layout and pins this process (every thread; threads
// and processes started later inherit it) to the load CPUs.
func pinning(want bool) cpuLayout {
	if !want {
		return cpuLayout{note: "shared (the default; `--pin` pins the proxies): all processes share all CPUs"}
	}
	n := runtime.NumCPU()
	if n < 2 {
		return cpuLayout{note: "not pinned: one CPU"}
	}
	ts, err := exec.LookPath("taskset")
	if err != nil {
		return cpuLayout{note: "not pinned: taskset (util-linux) not found"}
	}
	half := n / 2
	var load unix.CPUSet
	for c := 0; c < half; c++ {
		load.Set(c)
	}
	if err := pinSelf(&load); err != nil {
		return cpuLayout{note: "not pinned: " + err.Error()}
	}
	return cpuLayout{proxy: cpuList(half, n-1), load: cpuList(0, half-1), taskset: ts}
}

func cpuList(from, to int) string {
	if from == to {
		return strconv.Itoa(from)
	}
	return fmt.Sprintf("%d-%d", from, to)
}

// pinSelf sets the affinity of every thread of this process.
func pinSelf(set *unix.CPUSet) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, set); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// onProxyCPUs makes cmd (from newCmd) start on the proxies' CPUs: taskset
// sets the affinity and execs the program (same PID), whose Go runtime then
// sizes GOMAXPROCS to those CPUs.
func (l cpuLayout) onProxyCPUs(cmd *exec.Cmd) {
	if l.proxy == "" {
		return
	}
	cmd.Args = append([]string{"taskset", "-c", l.proxy, cmd.Path}, cmd.Args[1:]...)
	cmd.Path = l.taskset
	cmd.Err = nil
}

// describe is the report's line on the layout.
func (l cpuLayout) describe() string {
	if l.proxy == "" {
		return l.note
	}
	return fmt.Sprintf("pinned (`--pin`): the proxies (floor and gateway) on CPU %s, the clients, the fake upstream and redis-server on CPU %s", l.proxy, l.load)
}

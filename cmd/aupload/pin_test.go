package main

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestCPUList(t *testing.T) {
	if got := cpuList(1, 1); got != "1" {
		t.Errorf("cpuList(1, 1) = %q", got)
	}
	if got := cpuList(4, 7); got != "4-7" {
		t.Errorf("cpuList(4, 7) = %q", got)
	}
}

func TestOnProxyCPUsRewritesCommand(t *testing.T) {
	cmd := newCmd(context.Background(), "/bin/echo", "a", "b")
	cpuLayout{}.onProxyCPUs(cmd) // not pinned: unchanged
	if cmd.Path != "/bin/echo" || !slices.Equal(cmd.Args, []string{"/bin/echo", "a", "b"}) {
		t.Fatalf("unpinned layout changed the command: %q %q", cmd.Path, cmd.Args)
	}
	cpuLayout{proxy: "1", taskset: "/usr/bin/taskset"}.onProxyCPUs(cmd)
	if cmd.Path != "/usr/bin/taskset" || !slices.Equal(cmd.Args, []string{"taskset", "-c", "1", "/bin/echo", "a", "b"}) {
		t.Fatalf("pinned command: %q %q", cmd.Path, cmd.Args)
	}
}

// A child started on the proxies' CPUs runs there, under the PID the
// harness tracks (taskset execs the program).
func TestChildOnProxyCPUs(t *testing.T) {
	ts, err := exec.LookPath("taskset")
	if runtime.NumCPU() < 2 || err != nil {
		t.Skip("needs 2+ CPUs and taskset") // the layout is then not pinned either
	}
	last := runtime.NumCPU() - 1
	l := cpuLayout{proxy: strconv.Itoa(last), load: "0", taskset: ts}
	c, err := startChild(context.Background(), "upstream", l.onProxyCPUs)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(c.PID()) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			if strings.TrimSpace(v) != strconv.Itoa(last) {
				t.Fatalf("child runs on CPUs %q, want %d", strings.TrimSpace(v), last)
			}
			if !strings.Contains(string(b), "Name:\t"+processName()) {
				t.Errorf("the tracked PID is not the child itself:\n%s", b)
			}
			return
		}
	}
	t.Fatalf("no Cpus_allowed_list in /proc/PID/status:\n%s", b)
}

// processName is this binary's name as /proc shows it (15 bytes at most).
func processName() string {
	exe, _ := os.Executable()
	name := exe[strings.LastIndexByte(exe, '/')+1:]
	if len(name) > 15 {
		name = name[:15]
	}
	return name
}

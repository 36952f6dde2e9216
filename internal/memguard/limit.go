package memguard

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// The cgroup files that hold a container's memory limit: v2, then v1.
var cgroupFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// noLimitAbove: cgroup v1 writes "no limit" as a huge number (about 2^63
// rounded to the page size); anything past 1 PiB is taken to mean that.
const noLimitAbove = 1 << 50

// Limit is what ApplyLimit decided.
type Limit struct {
	Bytes  int64  // the soft limit in force; 0 when none was set by us
	Source string // "GOMEMLIMIT", "config", "cgroup FILE" or "none"
}

// ApplyLimit sets the Go runtime's soft memory limit, so the collector
// works harder before the container is killed: GOMEMLIMIT, when set, wins
// (the runtime applied it already); else configured bytes when > 0; else
// 90 % of the container's limit when one is detected; else nothing.
func ApplyLimit(configured int64, getenv func(string) string, readFile func(string) ([]byte, error)) Limit {
	if getenv == nil {
		getenv = os.Getenv
	}
	if readFile == nil {
		readFile = os.ReadFile
	}
	if getenv("GOMEMLIMIT") != "" {
		return Limit{Bytes: debug.SetMemoryLimit(-1), Source: "GOMEMLIMIT"}
	}
	if configured > 0 {
		debug.SetMemoryLimit(configured)
		return Limit{Bytes: configured, Source: "config"}
	}
	if n, file := ContainerLimit(readFile); n > 0 {
		soft := n / 10 * 9 // headroom for what the runtime does not count (stacks' OS memory, cgo, page cache)
		debug.SetMemoryLimit(soft)
		return Limit{Bytes: soft, Source: "cgroup " + file}
	}
	return Limit{Source: "none"}
}

// ContainerLimit reads the container's memory limit in bytes; 0 when
// there is none or it cannot be read.
func ContainerLimit(readFile func(string) ([]byte, error)) (int64, string) {
	for _, f := range cgroupFiles {
		b, err := readFile(f)
		if err != nil {
			continue
		}
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return 0, f
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 || n >= noLimitAbove {
			return 0, f
		}
		return n, f
	}
	return 0, ""
}

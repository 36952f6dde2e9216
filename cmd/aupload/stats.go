package main

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// stats summarises one target in one mode.
type stats struct {
	n, errs, rejected int
	rps               float64
	p50, p99          time.Duration
	ttfb50, ttfb99    time.Duration
	cpuPerReq         time.Duration // 0: not measured
	errMsgs           map[string]int
	scale             *scaleStats // spread targets (--replicas) only
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p + 0.5)
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}

func (s *samples) stats() stats {
	slices.Sort(s.lat)
	slices.Sort(s.ttfb)
	st := stats{n: s.ok, errs: s.errs, rejected: s.rejected, errMsgs: s.errMsgs,
		p50: percentile(s.lat, .50), p99: percentile(s.lat, .99),
		ttfb50: percentile(s.ttfb, .50), ttfb99: percentile(s.ttfb, .99)}
	if s.elapsed > 0 {
		st.rps = float64(s.ok) / s.elapsed.Seconds()
	}
	st.scale = s.scale.stats(s.ok, s.elapsed)
	if s.cpuOK && s.ok > 0 {
		st.cpuPerReq = s.cpu / time.Duration(s.ok)
	}
	return st
}

// cpuTime is a process's user+system CPU time from /proc/PID/stat (in
// clock ticks of 10 ms: fine over phases of seconds).
func cpuTime(pid int) (time.Duration, error) {
	if pid == 0 {
		return 0, nil
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces: fields start after its ")".
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	// utime and stime are fields 14 and 15 of the line, 12 and 13 here.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad times", pid)
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

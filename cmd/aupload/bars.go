package main

import (
	"fmt"
	"time"
)

// The quality bars of docs/architecture.md ("Quality bars"), as the design
// sets them: judged in the shared layout, the default.
const (
	barP50      = 50 * time.Microsecond
	barP99      = time.Millisecond
	barRatio    = 0.9
	barCPU      = 1.25 // the gateway's CPU per request over the floor's
	barFirst    = time.Millisecond
	barIdleByte = 1 << 30
)

type bar struct {
	name, limit, measured string
	pass                  bool
	measuredOK            bool // false: not measured, neither pass nor fail
	info                  bool // measured, but not judged here: another section, or the pinned layout
}

func (b bar) result() string {
	switch {
	case !b.measuredOK:
		return "n/a"
	case b.info:
		return "info"
	case b.pass:
		return "PASS"
	default:
		return "**FAIL**"
	}
}

// bars checks one store's run against the quality bars.
func (s *section) bars() []bar {
	var bs []bar
	pl := s.res["plain"]
	gw, fl := pl["gateway"], pl["floor"]
	if gw.n > 0 && fl.n > 0 {
		d50, d99 := gw.p50-fl.p50, gw.p99-fl.p99
		bs = append(bs,
			bar{name: "added p50 latency", limit: "≤ +50 µs over floor", measured: fmtDelta(d50), pass: d50 <= barP50, measuredOK: true, info: !s.judgeLatency},
			bar{name: "added p99 latency", limit: "≤ +1 ms over floor", measured: fmtDelta(d99), pass: d99 <= barP99, measuredOK: true, info: !s.judgeLatency})
		if fl.rps > 0 {
			r := gw.rps / fl.rps
			bs = append(bs, bar{name: "throughput", limit: "≥ 0.90× floor", measured: fmt.Sprintf("%.2f×", r), pass: r >= barRatio, measuredOK: true, info: !s.judgeThroughput})
		}
		bs = append(bs, s.cpuBar(gw, fl))
	} else {
		bs = append(bs, bar{name: "added latency / throughput / CPU", limit: "needs successful requests", measured: "none"})
	}
	if st, ok := s.res["stream"]; ok {
		g, f := st["gateway"], st["floor"]
		b := bar{name: "first streamed token (p50)", limit: "≤ +1 ms over floor"}
		if g.n > 0 && f.n > 0 {
			d := g.ttfb50 - f.ttfb50
			b.measured, b.pass, b.measuredOK, b.info = fmtDelta(d), d <= barFirst, true, !s.judgeLatency
		}
		bs = append(bs, b)
	}
	ib := bar{name: "10,000 idle streams", limit: "≤ 1 GiB gateway RSS", measured: "not measured"}
	if s.idle != nil && s.idle.opened > 0 {
		ib.measured, ib.pass, ib.measuredOK = s.idle.barText(), s.idle.withinBar(), true
	} else if s.idleErr != "" {
		ib.measured, ib.measuredOK = "error: "+s.idleErr, true
	}
	// Over HTTP/2 to the upstream the whole count fits: both must hold.
	if h := s.idleH2; h != nil && h.opened > 0 && ib.measuredOK {
		ib.measured += "; upstream over HTTP/2: " + h.barText()
		ib.pass = ib.pass && h.withinBar()
	} else if s.idleH2Err != "" {
		ib.measured += "; upstream over HTTP/2: error: " + s.idleH2Err
	}
	if !s.noIdle {
		bs = append(bs, ib)
	}
	errs, rej := 0, 0
	for _, byT := range s.res {
		for _, st := range byT {
			errs += st.errs
			rej += st.rejected
		}
	}
	bs = append(bs, bar{name: "errors (all targets)", limit: "0, 429s included", measured: fmt.Sprintf("%d (%d × 429)", errs, rej), pass: errs == 0, measuredOK: true})
	// The pinned layout is a second table, not the bar: it shows what the
	// layout does, and a verdict there would judge a deployment the design
	// does not assume.
	if s.pinned {
		for i := range bs {
			bs[i].info = true
		}
	}
	return bs
}

// cpuBar compares the gateway's CPU per plain request with the floor's.
// Like throughput it is judged with the most clients, where the CPUs are
// saturated and CPU per request decides the throughput.
func (s *section) cpuBar(gw, fl stats) bar {
	b := bar{name: "CPU per request", limit: "≤ 1.25× floor's", measured: "not measured"}
	if gw.cpuPerReq > 0 && fl.cpuPerReq > 0 {
		r := float64(gw.cpuPerReq) / float64(fl.cpuPerReq)
		b.measured = fmt.Sprintf("%.2f× (%s against %s)", r, fmtDur(gw.cpuPerReq), fmtDur(fl.cpuPerReq))
		b.pass, b.measuredOK, b.info = r <= barCPU, true, !s.judgeThroughput
	}
	return b
}

func (r *report) passed() bool {
	for _, s := range r.sections {
		for _, b := range s.bars() {
			if b.measuredOK && !b.info && !b.pass {
				return false
			}
		}
	}
	return true
}

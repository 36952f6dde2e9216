package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

const (
	markBegin = "<!-- aupload:begin -->"
	markEnd   = "<!-- aupload:end -->"
)

// The quality bars of docs/architecture.md ("Quality bars").
const (
	barP50      = 100 * time.Microsecond
	barP50Aim   = 50 * time.Microsecond
	barP99      = time.Millisecond
	barRatio    = 0.8
	barFirst    = time.Millisecond
	barIdleByte = 1 << 30
)

type bar struct {
	name, limit, measured string
	pass                  bool
	measuredOK            bool // false: not measured, neither pass nor fail
	info                  bool // measured, but the bar is judged in another section
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

func fmtDur(d time.Duration) string {
	if d < 0 {
		return "−" + fmtDur(-d)
	}
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%d µs", d.Microseconds())
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func fmtDelta(d time.Duration) string {
	if d >= 0 {
		return "+" + fmtDur(d)
	}
	return fmtDur(d)
}

func joinInts(ns []int) string {
	var ss []string
	for _, n := range ns {
		ss = append(ss, fmt.Sprint(n))
	}
	return strings.Join(ss, ", ")
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// bars checks one store's run against the quality bars.
func (s *section) bars() []bar {
	var bs []bar
	pl := s.res["plain"]
	gw, fl := pl["gateway"], pl["floor"]
	if gw.n > 0 && fl.n > 0 {
		d50, d99 := gw.p50-fl.p50, gw.p99-fl.p99
		aim := ""
		if d50 > barP50Aim {
			aim = " (above the 50 µs aim)"
		}
		bs = append(bs,
			bar{name: "added p50 latency", limit: "≤ +100 µs over floor (aim +50)", measured: fmtDelta(d50) + aim, pass: d50 <= barP50, measuredOK: true, info: !s.judgeLatency},
			bar{name: "added p99 latency", limit: "≤ +1 ms over floor", measured: fmtDelta(d99), pass: d99 <= barP99, measuredOK: true, info: !s.judgeLatency})
		if fl.rps > 0 {
			r := gw.rps / fl.rps
			bs = append(bs, bar{name: "throughput", limit: "≥ 0.80× floor", measured: fmt.Sprintf("%.2f×", r), pass: r >= barRatio, measuredOK: true, info: !s.judgeThroughput})
		}
	} else {
		bs = append(bs, bar{name: "added latency / throughput", limit: "needs successful requests", measured: "none"})
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
	return bs
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

// markdown renders the section that goes between the markers.
func (r *report) markdown() string {
	o := r.o
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("_Written by `cmd/aupload`; rerun it rather than editing between the markers._\n\n")
	p("- Command: `%s`\n", commandLine(o.args))
	p("- Date: %s\n", r.date.Format("2006-01-02 15:04 MST"))
	p("- Machine: %s; load average at start %s (1, 5, 15 min; the machine is shared); open-files limit %d\n", r.machine, r.loadAvg, r.fdLimit)
	p("- CPUs: %s.\n", r.cpus.describe())
	streams := "plain and `stream:true`"
	if !o.stream {
		streams = "plain only"
	}
	p("- Load: %s concurrent clients, each count in its own section (one tuned `http.Client` per target), %s requests of a ~%.1f KB chat body (64 variants whose history repeats; the last message is new in every request), "+
		"end users drawn from %d ids (`X-AUP-End-User`); per target and mode %s measured in %d rounds of %s after a %s warm-up; "+
		"each round rotates the order of direct, floor and gateway.\n",
		joinInts(o.concs), streams, float64(len(makeBodies(1).plain[0].head)+len(makeBodies(1).plain[0].tail)+8)/1000, o.users, o.dur, o.rounds, o.dur/time.Duration(o.rounds), o.warmup)
	upWhere, floorWhere := "in its own process", "in its own process, like the gateway"
	if o.inproc {
		upWhere, floorWhere = "in the harness process (`--inproc`)", "in the harness process (`--inproc`: shares the clients' runtime)"
	}
	p("- Targets: **direct** = the fake OpenRouter (`internal/fakeupstream`, no recording) served %s; "+
		"**floor** = a bare `httputil.ReverseProxy` (no logic; default `FlushInterval`, which flushes SSE at every write, like the gateway; full duplex) %s; "+
		"**gateway** = %s with the bundled policy, rate limits on (100000/min per end user, so none should refuse), "+
		"`zdr: false`, `answer_check: false`, `log.level: %s`.\n", upWhere, floorWhere, r.gateway, o.logLevel)
	where := "All processes share the machine's CPUs with the clients (loopback only), so absolute numbers are pessimistic; compare within a run. "
	if r.cpus.proxy != "" {
		where = "The proxies have their CPUs to themselves, so with many clients the floor and the gateway each saturate their own CPU and the throughput ratio is their CPU cost per request; " +
			"direct shares its CPU with the clients. Compare within a run. "
	}
	p("- Latency is request start to the end of the answer; for streams \"first token\" is the time to the first `data:` line. "+
		"CPU/req is the user+system CPU time of the process the target adds (the upstream for direct, the proxy for floor and gateway) per answered request. "+
		"%sWith 1 client the added latency is what one request pays; with many the CPUs are saturated and every request also waits for the others' CPU time, "+
		"so the added latency there grows with the extra CPU per request times the client count. "+
		"Hence the latency bars (p50, p99, first token) are judged with the fewest clients and the throughput bar with the most; the other sections show them as \"info\".\n", where)
	for _, s := range r.sections {
		title := s.store
		switch s.store {
		case "bolt":
			title = "embedded store (bolt, temp file)"
		case "redis":
			title = "Redis store (private redis-server"
			if s.storeVer != "" {
				title += " " + s.storeVer
			}
			title += ", no persistence)"
		}
		clients := fmt.Sprintf("%d concurrent clients", s.conc)
		if s.conc == 1 {
			clients = "1 client (sequential requests: the latency one request pays)"
		}
		p("\n### Gateway with the %s, %s\n\n", title, clients)
		p("| target | mode | requests | errors | req/s | p50 | p99 | first token p50 | first token p99 | CPU/req |\n")
		p("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, m := range modesAll {
			byT, ok := s.res[m]
			if !ok {
				continue
			}
			for _, t := range []string{"direct", "floor", "gateway"} {
				st := byT[t]
				f50, f99 := "–", "–"
				if m == "stream" {
					f50, f99 = fmtDur(st.ttfb50), fmtDur(st.ttfb99)
				}
				cpu := "–"
				if st.cpuPerReq > 0 {
					cpu = fmtDur(st.cpuPerReq)
				}
				p("| %s | %s | %d | %d | %.0f | %s | %s | %s | %s | %s |\n", t, m, st.n, st.errs, st.rps, fmtDur(st.p50), fmtDur(st.p99), f50, f99, cpu)
			}
		}
		p("\n| added | p50 | p99 | throughput |\n|---|---:|---:|---:|\n")
		for _, m := range modesAll {
			byT, ok := s.res[m]
			if !ok {
				continue
			}
			cmp := func(label string, a, base stats, first bool) {
				d50, d99 := a.p50-base.p50, a.p99-base.p99
				if first {
					d50, d99 = a.ttfb50-base.ttfb50, a.ttfb99-base.ttfb99
				}
				ratio := "–"
				if base.rps > 0 {
					ratio = fmt.Sprintf("%.2f×", a.rps/base.rps)
				}
				p("| %s | %s | %s | %s |\n", label, fmtDelta(d50), fmtDelta(d99), ratio)
			}
			cmp("floor vs direct ("+m+")", byT["floor"], byT["direct"], false)
			cmp("gateway vs floor ("+m+")", byT["gateway"], byT["floor"], false)
			if m == "stream" {
				cmp("gateway vs floor (stream, first token)", byT["gateway"], byT["floor"], true)
			}
		}
		if id := s.idle; id != nil {
			p("\nIdle streams: %d of %d opened through a fresh gateway (the fake upstream holds each open after its first comment); "+
				"gateway RSS %s idle, %s with %d open, %s with %d: **%.1f KiB per stream** (the slope between the last two); projected for 10,000: %s.",
				id.opened, id.asked, mib(id.idle), mib(id.before), id.baseOpened, mib(id.after), id.opened, id.perStream/1024, mib(id.projected))
			p("%s\n", id.problems())
		} else if s.idleErr != "" {
			p("\nIdle streams: %s\n", s.idleErr)
		}
		if h := s.idleH2; h != nil {
			p("\nIdle streams with the fake upstream over TLS, reached with HTTP/2 as OpenRouter is (the streams share a few upstream connections): %d of %d opened through a fresh gateway; "+
				"gateway RSS %s idle, %s with %d open, %s with %d: **%.1f KiB per stream**.",
				h.opened, h.asked, mib(h.idle), mib(h.before), h.baseOpened, mib(h.after), h.opened, h.perStream/1024)
			p("%s\n", h.problems())
		} else if s.idleH2Err != "" {
			p("\nIdle streams, upstream over HTTP/2: %s\n", s.idleH2Err)
		}
		p("\n| bar (docs/architecture.md) | limit | measured | result |\n|---|---|---|---|\n")
		for _, bb := range s.bars() {
			p("| %s | %s | %s | %s |\n", bb.name, bb.limit, bb.measured, bb.result())
		}
		var msgs []string
		for _, m := range modesAll {
			for _, t := range []string{"direct", "floor", "gateway"} {
				for msg, n := range s.res[m][t].errMsgs {
					msgs = append(msgs, fmt.Sprintf("- %s %s, %d×: `%s`", t, m, n, strings.ReplaceAll(msg, "`", "'")))
				}
			}
		}
		if len(msgs) > 0 {
			slices.Sort(msgs)
			p("\nErrors seen:\n%s\n", strings.Join(msgs, "\n"))
		}
	}
	return b.String()
}

// barText is an idle-stream result as the memory bar shows it.
func (r *idleResult) barText() string {
	how := "projected"
	if r.opened >= 10000 {
		how = fmt.Sprintf("with %d open", r.opened)
	}
	t := fmt.Sprintf("%s %s (%.1f KiB/stream)", mib(r.projected), how, r.perStream/1024)
	if r.failed > 0 {
		t += fmt.Sprintf(", %d streams failed to open", r.failed)
	}
	return t
}

func (r *idleResult) withinBar() bool { return r.projected <= barIdleByte && r.failed == 0 }

// problems is what went wrong while opening the streams, for the report.
func (r *idleResult) problems() string {
	t := ""
	if r.failed > 0 {
		t += fmt.Sprintf(" %d failed to open (first: %s).", r.failed, r.firstErr)
	}
	if r.note != "" {
		t += fmt.Sprintf(" Note: %s.", r.note)
	}
	return t
}

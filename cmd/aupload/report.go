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
	where := "All processes share the machine's CPUs with the clients (loopback only), the layout the bars are judged in, so absolute numbers are pessimistic; compare within a run. "
	if o.pin {
		where = "All processes share the machine's CPUs with the clients (loopback only): pinning was asked for but not done (see CPUs). "
	}
	if r.cpus.proxy != "" {
		where = "The proxies have their CPUs to themselves, so with many clients the floor and the gateway each saturate their own CPU and the throughput ratio is their CPU cost per request; " +
			"direct shares its CPU with the clients. Compare within a run. "
	}
	judged := "Hence the latency bars (p50, p99, first token) are judged with the fewest clients and the throughput and CPU-per-request bars with the most; the other sections show them as \"info\".\n"
	if o.pin {
		judged = "This is the `--pin` run, a second table and not the bar: every bar here is \"info\"; the bars are judged in the shared layout, the default.\n"
	}
	p("- Latency is request start to the end of the answer; for streams \"first token\" is the time to the first `data:` line. "+
		"CPU/req is the user+system CPU time of the process the target adds (the upstream for direct, the proxy for floor and gateway) per answered request; the CPU bar compares the gateway's with the floor's (plain). "+
		"%sWith 1 client the added latency is what one request pays; with many the CPUs are saturated and every request also waits for the others' CPU time, "+
		"so the added latency there grows with the extra CPU per request times the client count. %s", where, judged)
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

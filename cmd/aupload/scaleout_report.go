package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// markdown renders the scale-out run for its section of the benchmarks file.
func (r *scaleReport) markdown() string {
	o := r.o
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("_Written by `cmd/aupload --replicas`; rerun it rather than editing between the markers._\n\n")
	p("- Command: `%s`\n", commandLine(o.args))
	p("- Date: %s\n", r.date.Format("2006-01-02 15:04 MST"))
	p("- Machine: %s; load average at start %s (1, 5, 15 min; the machine is shared)\n", r.machine, r.loadAvg)
	procs := "Go's default GOMAXPROCS (every CPU)"
	if o.gomaxprocs > 0 {
		procs = fmt.Sprintf("`GOMAXPROCS=%d` each", o.gomaxprocs)
	}
	rate := o.userRate
	if rate == 0 {
		rate = 100000
	}
	lease := min(max(rate*2/60, 1), 1000) // internal/enforce's lease: 2 s of the rate
	p("- Store: %d replicas of %s, %s, share %s; bundled policy, `log.level: %s`, rate limits on: %d/min per end user, so each replica leases %d tokens of a user's bucket from Redis at a time.\n",
		o.replicas, r.gateway, procs, r.store, o.logLevel, rate, lease)
	if len(r.redisIdle) > 0 {
		var ss []string
		for _, v := range r.redisIdle {
			ss = append(ss, fmt.Sprintf("%.1f%%", 100*v))
		}
		p("- Redis with the replicas up and no load (3 s before the rounds): %s of a CPU per node, background work counted in its CPU per request below.\n", strings.Join(ss, ", "))
	}
	p("- Load: the same clients (%s concurrent, each count in its own section; end users drawn from %d ids; a new prompt every request) load the floor, then replica 1 alone, then the first 2, …, %d replicas taken in turn request by request (round robin); "+
		"per target and mode %s measured in %d rounds of %s after a %s warm-up, each round rotating the targets. Every process (clients, fake upstream, floor, replicas, Redis) shares all CPUs.\n",
		joinInts(o.concs), o.users, o.replicas, o.dur, o.rounds, o.dur/time.Duration(o.rounds), o.warmup)
	p("- Proxy CPU/req is the CPU time of the floor, or of all the target's replicas together, per answered request; Redis CPU/req is `INFO cpu` (used_cpu_user + used_cpu_sys) per answered request, per node for a cluster; " +
		"Redis busy is the busiest node's share of one CPU (Redis runs commands on one thread); machine busy is `/proc/stat`'s non-idle share of all CPUs over the target's phases, and in brackets the part of them this run's processes (harness, upstream, floor, replicas, Redis) used: the rest is other work on the shared machine.\n")
	for _, s := range r.sections {
		p("\n#### %d concurrent clients\n\n", s.conc)
		p("| target | mode | requests | errors | req/s | req/s per replica | × 1 replica | × floor | p50 | p99 | proxy CPU/req | Redis CPU/req | Redis busy | machine busy |\n")
		p("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, m := range modesAll {
			byT, ok := s.res[m]
			if !ok {
				continue
			}
			for _, name := range r.targetNames() {
				st := byT[name]
				p("| %s | %s | %d | %d | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", name, m, st.n, st.errs, st.rps,
					perReplica(st), ratio(st.rps, byT["1 replica"].rps, name == "floor"), ratio(st.rps, byT["floor"].rps, name == "floor"),
					fmtDur(st.p50), fmtDur(st.p99), scaleCPU(st), redisCPU(st), redisBusy(st), hostBusy(st))
			}
		}
		if top := byTop(s, r.targetNames()); top != "" {
			p("\nRedis commands per request (%s, plain; commands a Lua script runs count too): %s.\n", replicasName(o.replicas), top)
		}
		var msgs []string
		for _, m := range modesAll {
			for _, t := range r.targetNames() {
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
	p("\n%s", r.verdict())
	return b.String()
}

func (r *scaleReport) targetNames() []string {
	ns := []string{"floor"}
	for k := 1; k <= r.o.replicas; k++ {
		ns = append(ns, replicasName(k))
	}
	return ns
}

func ratio(a, base float64, skip bool) string {
	if skip || base <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/base)
}

func perReplica(st stats) string {
	if st.scale == nil || len(st.scale.replicaRPS) < 2 {
		return "–"
	}
	var ss []string
	for _, v := range st.scale.replicaRPS {
		ss = append(ss, fmt.Sprintf("%.0f", v))
	}
	return strings.Join(ss, " + ")
}

func scaleCPU(st stats) string {
	if st.scale == nil || !st.scale.cpuOK {
		return "–"
	}
	return fmtDur(st.scale.cpuPerReq)
}

func redisCPU(st stats) string {
	sc := st.scale
	switch {
	case sc == nil || !sc.hasRedis:
		return "–"
	case !sc.redOK:
		return "n/a"
	case len(sc.redisPerReq) == 1:
		return fmtMicros(sc.redisTotal)
	}
	var ss []string
	for _, d := range sc.redisPerReq {
		ss = append(ss, fmtMicros(d))
	}
	return fmtMicros(sc.redisTotal) + " (" + strings.Join(ss, " + ") + ")"
}

// fmtMicros keeps a tenth of a µs: Redis's share per request is small.
func fmtMicros(d time.Duration) string {
	return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
}

func redisBusy(st stats) string {
	if st.scale == nil || !st.scale.redOK {
		return "–"
	}
	return fmt.Sprintf("%.0f%%", 100*slices.Max(st.scale.redisBusy))
}

func hostBusy(st stats) string {
	if st.scale == nil || st.scale.hostBusy == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f%% (%.0f%%)", 100*st.scale.hostBusy, 100*st.scale.runShare)
}

// byTop lists the commands per request of the largest target, plain mode.
func byTop(s *section, names []string) string {
	st := s.res["plain"][names[len(names)-1]].scale
	if st == nil || len(st.cmdsPerReq) == 0 {
		return ""
	}
	var ss []string
	for i, c := range st.cmdsPerReq {
		if i == 6 {
			ss = append(ss, "…")
			break
		}
		ss = append(ss, fmt.Sprintf("`%s` %.2f", c.name, c.per))
	}
	return strings.Join(ss, ", ")
}

// verdict reads the section with the most clients (the CPUs saturated):
// how far the replicas scaled, what stopped them, and how many replicas
// Redis itself would carry at what it spent per request.
func (r *scaleReport) verdict() string {
	if len(r.sections) == 0 {
		return ""
	}
	s := r.sections[0]
	for _, x := range r.sections {
		if x.conc > s.conc {
			s = x
		}
	}
	pl := s.res["plain"]
	one, all := pl["1 replica"], pl[replicasName(r.o.replicas)]
	if one.scale == nil || all.scale == nil || one.rps == 0 {
		return "No verdict: a target answered nothing.\n"
	}
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	gain := all.rps / one.rps
	p("**Verdict (%d clients, plain).** %s answered %.0f req/s, %.2f× one replica's %.0f (%.0f per replica), with the machine's CPUs %s busy under one replica and %s under %d. ",
		s.conc, replicasName(r.o.replicas), all.rps, gain, one.rps, all.rps/float64(r.o.replicas), hostBusy(one), hostBusy(all), r.o.replicas)
	redBusy := 0.0
	if all.scale.redOK {
		redBusy = slices.Max(all.scale.redisBusy)
	}
	switch {
	case one.scale.hostBusy >= 0.85:
		p("The limit is the host's CPUs: one replica already keeps them busy, so another replica on the same host only splits the same CPU time (the proxy CPU per request is unchanged or higher: %s with one, %s with %d). Replicas scale out across hosts, not on one. ",
			scaleCPU(one), scaleCPU(all), r.o.replicas)
	case all.scale.hostBusy >= 0.85:
		p("The limit is the host's CPUs: one replica left some idle, %d replicas fill them, and that is as far as they go on one host (proxy CPU per request %s with one, %s with %d). ",
			r.o.replicas, scaleCPU(one), scaleCPU(all), r.o.replicas)
	case redBusy >= 0.85:
		p("The limit is Redis: its busiest node is %s busy. ", redisBusy(all))
	default:
		p("Neither the CPUs nor Redis were saturated: more clients would push further. ")
	}
	if !all.scale.redOK || len(all.scale.redisPerReq) == 0 || !one.scale.cpuOK {
		return b.String() + "\n"
	}
	// Per node, net of its background work when measured: the share of a
	// CPU above idle, per request per second.
	worst, idle := 0.0, 0.0
	for i, busy := range all.scale.redisBusy {
		bg := 0.0
		if i < len(r.redisIdle) {
			bg = r.redisIdle[i]
		}
		if net := (busy - bg) / all.rps; net > worst {
			worst, idle = net, bg
		}
	}
	if worst <= 0 {
		return b.String() + "\n"
	}
	capacity := (1 - idle) / worst
	cores := one.scale.cpuPerReq.Seconds() / worst
	net := fmtMicros(time.Duration(worst * float64(time.Second)))
	spent := fmt.Sprintf("Redis spent %s of CPU per request (%s net of its idle background)", fmtMicros(all.scale.redisTotal), net)
	if n := len(all.scale.redisPerReq); n > 1 {
		spent = fmt.Sprintf("The cluster spent %s of CPU per request over its %d nodes, the busiest %s net of its idle background", fmtMicros(all.scale.redisTotal), n, net)
	}
	p("%s, against the gateway's %s: with a CPU of its own the busiest Redis node would be full at ≈ %.0f req/s, %.1f× what the replicas reached here, "+
		"the work of ≈ %.0f gateway CPUs (≈ %.0f hosts of two gateway CPUs) before Redis itself is the limit.\n",
		spent, fmtDur(one.scale.cpuPerReq), capacity, capacity/all.rps, cores, cores/2)
	return b.String()
}

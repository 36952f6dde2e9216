package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

var modesAll = []string{"plain", "stream"}

// section is one store's run at one client count: direct, floor and
// gateway side by side.
type section struct {
	store    string
	conc     int
	storeVer string
	res      map[string]map[string]stats // mode → target → stats
	idle     *idleResult
	idleErr  string
	// idle streams again with the upstream over TLS and HTTP/2 (--idle-h2)
	idleH2    *idleResult
	idleH2Err string
	noIdle    bool // idle streams are measured once per store, in its last section
	// Latency bars count with the fewest clients (what a request pays),
	// the throughput and CPU bars with the most (the CPUs saturated).
	judgeLatency, judgeThroughput bool
	pinned                        bool // --pin: a second table, its bars info only
}

// report is the whole run.
type report struct {
	o        *options
	date     time.Time
	machine  string
	gateway  string
	loadAvg  string // at the start
	fdLimit  uint64
	cpus     cpuLayout
	sections []*section
}

func measure(ctx context.Context, o *options, stderr io.Writer) (*report, error) {
	limit := raiseFDLimit(uint64(2*max(o.idle, slices.Max(o.concs)) + 1024))
	rep := &report{o: o, date: time.Now().UTC(), machine: machine(), fdLimit: limit, loadAvg: loadAvg()}
	// Before any process starts: they inherit this process's CPUs.
	rep.cpus = pinning(o.pin && !o.inproc && o.newGateway == nil)
	if rep.cpus.proxy == "" && o.pin && (o.inproc || o.newGateway != nil) {
		rep.cpus.note = "not pinned: the floor or the gateway runs in the harness process"
	}

	// The fake upstream and the floor each in a child process (or, with
	// --inproc, in this one).
	var up, floor server
	var err error
	if o.inproc {
		up, err = startUpstream()
	} else {
		up, err = startChild(ctx, "upstream", nil)
	}
	if err != nil {
		return nil, fmt.Errorf("fake upstream: %w", err)
	}
	defer up.Close()
	if o.inproc {
		floor, err = startFloor(up.BaseURL())
	} else {
		if o.profile != "" {
			if err := os.MkdirAll(o.profile, 0o755); err != nil {
				return nil, err
			}
			os.Setenv(childProfileEnv, o.profile)
		}
		floor, err = startChild(ctx, "floor "+up.BaseURL(), rep.cpus.onProxyCPUs)
		os.Unsetenv(childProfileEnv)
	}
	if err != nil {
		return nil, fmt.Errorf("floor proxy: %w", err)
	}
	defer floor.Close()

	factory := o.newGateway
	bin := o.gatewayBin
	if factory == nil {
		if bin == "" {
			b, cleanup, err := buildGateway(ctx, stderr)
			if err != nil {
				return nil, err
			}
			defer cleanup()
			bin = b
		}
		factory = startProcGateway
		rep.gateway = "`aupguard serve` subprocess" + gatewayVersion(bin)
	} else {
		rep.gateway = "in-process stand-in (tests)"
	}

	modes := []string{"plain"}
	if o.stream {
		modes = append(modes, "stream")
	}
	for _, store := range o.stores {
		spec := gatewaySpec{Store: store, Upstream: up.BaseURL(), Bin: bin, LogLevel: o.logLevel, Users: o.users, Pprof: o.profile != "",
			Place: rep.cpus.onProxyCPUs}
		var rs *redisServer
		storeVer := ""
		if store == "redis" {
			if rs, err = startRedis(ctx); err != nil {
				return nil, err
			}
			spec.StoreURL = rs.URL()
			storeVer = redisVersion()
		}
		var sec *section
		err := func() error {
			progress(stderr, "store %s: starting the gateway", store)
			gw, err := factory(ctx, spec)
			if err != nil {
				return err
			}
			defer gw.Close()
			for i, conc := range o.concs {
				sec = &section{store: store, conc: conc, storeVer: storeVer, res: map[string]map[string]stats{}, noIdle: i < len(o.concs)-1,
					judgeLatency: conc == slices.Min(o.concs), judgeThroughput: conc == slices.Max(o.concs), pinned: o.pin}
				rep.sections = append(rep.sections, sec)
				if err := measureConc(ctx, o, conc, up, floor, gw, modes, sec, stderr); err != nil {
					return err
				}
			}
			return nil
		}()
		if err == nil && o.idle > 0 {
			err = idlePhase(ctx, o, spec, factory, limit, up, sec, stderr)
		}
		if rs != nil {
			rs.Close()
		}
		if err != nil {
			return nil, fmt.Errorf("store %s: %w", store, err)
		}
	}
	return rep, nil
}

// measureConc measures direct, floor and gateway with conc clients.
func measureConc(ctx context.Context, o *options, conc int, up, floor server, gw gateway, modes []string, sec *section, stderr io.Writer) error {
	l := newLoader(conc, o.users)
	// CPU is charged to the process each target adds: the upstream for
	// direct, the proxy for floor and gateway.
	targets := []*target{
		newTarget("direct", up.BaseURL()+"/api/v1", upstreamKey, conc, pidOf(up)),
		newTarget("floor", floor.BaseURL()+"/api/v1", upstreamKey, conc, pidOf(floor)),
		newTarget("gateway", gw.BaseURL()+"/api/v1", gw.Key(), conc, notSelf(gw.PID())),
	}
	defer func() {
		for _, t := range targets {
			t.close()
		}
	}()
	if err := preflight(ctx, targets, l, modes, gw); err != nil {
		return err
	}
	var prof *profiler
	if p, ok := gw.(*procGateway); ok && o.profile != "" {
		// The gateway idles while the other targets run, so a profile
		// spanning the whole section holds only its own work.
		span := time.Duration(len(modes)*len(targets)) * (o.warmup + o.dur)
		prof = startProfile(ctx, p.admin, span, o.profile, fmt.Sprintf("gateway-%s-c%d", sec.store, conc))
	}
	runRounds(ctx, o, l, targets, modes, sec, stderr)
	if prof != nil {
		if err := prof.finish(); err != nil {
			progress(stderr, "profile: %v", err)
		} else {
			progress(stderr, "profiles: %s", strings.Join(prof.files, ", "))
		}
	}
	return ctx.Err()
}

// server is a target the harness started: a child process or, with
// --inproc, a server in this process.
type server interface {
	BaseURL() string
	Close()
}

func notSelf(pid int) int {
	if pid == os.Getpid() {
		return 0
	}
	return pid
}

// pidOf is the process a server runs in; 0 for this one (its CPU time is
// the load generator's too, so it is not reported).
func pidOf(s server) int {
	if c, ok := s.(*child); ok {
		return c.PID()
	}
	return 0
}

// preflight sends one request per target and mode, so that a gateway that
// refuses everything stops the run with its answer (and its log) at once.
func preflight(ctx context.Context, targets []*target, l *loader, modes []string, gw gateway) error {
	w := newWorker(7, 10)
	for _, t := range targets {
		for _, m := range modes {
			w.reset()
			body := l.bodies.plain[0]
			if m == "stream" {
				body = l.bodies.stream[0]
			}
			w.one(ctx, t, body, m == "stream")
			if len(w.errs) > 0 {
				msg := fmt.Sprintf("%s refused a %s request: %s", t.name, m, w.errs[0])
				if p, ok := gw.(*procGateway); ok && t.name == "gateway" {
					msg += "\n--- gateway output ---\n" + p.stderrTail()
				}
				return errors.New(msg)
			}
		}
	}
	return nil
}

// runRounds warms every target up, then measures in rounds; each round
// rotates the order of the targets, so drifts in machine load (the other
// processes on a shared machine) spread over all of them.
func runRounds(ctx context.Context, o *options, l *loader, targets []*target, modes []string, sec *section, stderr io.Writer) {
	for _, m := range modes {
		for _, t := range targets {
			l.phase(ctx, t, m == "stream", o.warmup, nil)
		}
	}
	recs := map[string]map[string]*samples{}
	for _, m := range modes {
		recs[m] = map[string]*samples{}
		for _, t := range targets {
			recs[m][t.name] = newSamples()
		}
	}
	slice := o.dur / time.Duration(o.rounds)
	for r := 0; r < o.rounds && ctx.Err() == nil; r++ {
		progress(stderr, "store %s, %d clients: round %d/%d", sec.store, sec.conc, r+1, o.rounds)
		for _, m := range modes {
			for i := range targets {
				t := targets[(i+r)%len(targets)]
				l.phase(ctx, t, m == "stream", slice, recs[m][t.name])
			}
		}
	}
	for m, byT := range recs {
		sec.res[m] = map[string]stats{}
		for name, s := range byT {
			sec.res[m][name] = s.stats()
		}
	}
}

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"time"
)

// Scale-out (--replicas N): N `aupguard serve` replicas share one private
// redis-server (--cluster: a private 3-node Redis Cluster), and the same
// clients load, in interleaved rounds, the floor, replica 1 alone, then
// replicas 1..2, 1..3, …, 1..N, taking the replicas of a target in turn
// request by request. Every process shares all CPUs (no pinning): it is how
// several replicas on one host run, and what it measures is where adding a
// replica stops adding throughput, and what Redis spends per request, from
// which the report projects how many replicas one Redis carries.

// clusterNodes is the size of the --cluster store.
const clusterNodes = 3

// scaleSectionFor is the part of the benchmarks file a scale-out run owns:
// one per store and rate-limit setting, so that each can be kept.
func scaleSectionFor(o *options) docSection {
	key, heading := "scaleout", "Scale-out, one redis-server"
	if o.cluster {
		key, heading = "scaleout-cluster", "Scale-out, 3-node Redis Cluster"
	}
	if o.userRate > 0 {
		key += "-limit" + strconv.Itoa(o.userRate)
		heading += fmt.Sprintf(", %d requests/min per end user", o.userRate)
	}
	if o.gomaxprocs > 0 {
		key += "-procs" + strconv.Itoa(o.gomaxprocs)
		heading += fmt.Sprintf(", GOMAXPROCS=%d per replica", o.gomaxprocs)
	}
	return docSection{"<!-- aupload:" + key + ":begin -->", "<!-- aupload:" + key + ":end -->", heading}
}

// scaleReport is a scale-out run.
type scaleReport struct {
	o       *options
	date    time.Time
	machine string
	gateway string
	loadAvg string
	store   string // how the report names the shared store
	// redisIdle is each node's CPU share of one core with the replicas up
	// and no load: background work, not requests
	redisIdle []float64
	sections  []*section
}

func runScaleOut(ctx context.Context, o *options, stdout, stderr io.Writer) int {
	rep, err := measureScaleOut(ctx, o, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "aupload:", err)
		return 1
	}
	md := rep.markdown()
	fmt.Fprint(stdout, md)
	if o.out != "-" && o.out != "" {
		if err := writeSection(o.out, md, scaleSectionFor(o)); err != nil {
			fmt.Fprintln(stderr, "aupload:", err)
			return 1
		}
		fmt.Fprintf(stderr, "aupload: wrote %s\n", o.out)
	}
	return 0
}

func measureScaleOut(ctx context.Context, o *options, stderr io.Writer) (*scaleReport, error) {
	raiseFDLimit(uint64(4*slices.Max(o.concs) + 1024))
	rep := &scaleReport{o: o, date: time.Now().UTC(), machine: machine(), loadAvg: loadAvg()}
	up, err := startChild(ctx, "upstream", nil)
	if err != nil {
		return nil, fmt.Errorf("fake upstream: %w", err)
	}
	defer up.Close()
	floor, err := startChild(ctx, "floor "+up.BaseURL(), nil)
	if err != nil {
		return nil, fmt.Errorf("floor proxy: %w", err)
	}
	defer floor.Close()
	factory, bin := o.newGateway, o.gatewayBin
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
		rep.gateway = "`aupguard serve` subprocesses" + gatewayVersion(bin)
	} else {
		rep.gateway = "in-process stand-ins (tests)"
	}

	var rs *redisStore
	if o.cluster {
		rs, err = startCluster(ctx, clusterNodes)
		rep.store = fmt.Sprintf("a private %d-node Redis Cluster (redis-server %s, masters only, slots split evenly, no persistence)", clusterNodes, redisVersion())
	} else {
		rs, err = startSingle(ctx)
		rep.store = fmt.Sprintf("one private redis-server %s (no persistence)", redisVersion())
	}
	if err != nil {
		return nil, err
	}
	defer rs.Close()

	spec := gatewaySpec{Store: "redis", StoreURL: rs.url, Upstream: up.BaseURL(), Bin: bin, LogLevel: o.logLevel, Users: o.users, UserRate: o.userRate}
	if o.gomaxprocs > 0 {
		spec.Env = []string{"GOMAXPROCS=" + strconv.Itoa(o.gomaxprocs)}
	}
	var gws []gateway
	defer func() {
		for _, g := range gws {
			g.Close()
		}
	}()
	for i := range o.replicas {
		progress(stderr, "scale-out: starting replica %d of %d over %s", i+1, o.replicas, rs.url)
		g, err := factory(ctx, spec)
		if err != nil {
			return nil, fmt.Errorf("replica %d: %w", i+1, err)
		}
		gws = append(gws, g)
	}
	// Redis's own background work (cron, the cluster bus, the replicas'
	// idle connections), so its CPU per request can be read net of it.
	r0 := redisSnapshot(rs.addrs())
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(3 * time.Second):
	}
	if r1 := redisSnapshot(rs.addrs()); r0.failed == nil && r1.failed == nil {
		for i := range r1.cpu {
			rep.redisIdle = append(rep.redisIdle, (r1.cpu[i]-r0.cpu[i]).Seconds()/3)
		}
	}
	modes := []string{"plain"}
	if o.stream {
		modes = append(modes, "stream")
	}
	for _, conc := range o.concs {
		sec := &section{store: "scale-out " + rs.kind, conc: conc, res: map[string]map[string]stats{}}
		rep.sections = append(rep.sections, sec)
		if err := measureScaleConc(ctx, o, conc, up, floor, gws, rs, modes, sec, stderr); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

// replicasName is the target of the first k replicas.
func replicasName(k int) string {
	if k == 1 {
		return "1 replica"
	}
	return strconv.Itoa(k) + " replicas"
}

// scaleTargets are the floor, then the first 1, 2, …, N replicas.
func scaleTargets(o *options, conc int, up, floor *child, gws []gateway, rs *redisStore) []*target {
	ft := newTarget("floor", floor.BaseURL()+"/api/v1", upstreamKey, conc, 0)
	run := []int{os.Getpid(), up.PID(), floor.PID()}
	for _, g := range gws {
		run = append(run, g.PID())
	}
	for _, n := range rs.nodes {
		run = append(run, n.p.pid())
	}
	ft.spread = newSpread([]string{ft.chat}, []int{floor.PID()}, nil, run)
	ts := []*target{ft}
	for k := 1; k <= len(gws); k++ {
		var chats []string
		var pids []int
		for _, g := range gws[:k] {
			chats = append(chats, g.BaseURL()+"/api/v1/chat/completions")
			pids = append(pids, g.PID())
		}
		// One pool per target, sized for every client on every replica.
		t := newTarget(replicasName(k), gws[0].BaseURL()+"/api/v1", gws[0].Key(), conc*k, 0)
		t.spread = newSpread(chats, pids, rs.addrs(), run)
		ts = append(ts, t)
	}
	return ts
}

func measureScaleConc(ctx context.Context, o *options, conc int, up, floor *child, gws []gateway, rs *redisStore, modes []string, sec *section, stderr io.Writer) error {
	l := newLoader(conc, o.users)
	targets := scaleTargets(o, conc, up, floor, gws, rs)
	defer func() {
		for _, t := range targets {
			t.close()
		}
	}()
	if err := preflight(ctx, targets, l, modes, gws[0]); err != nil {
		return err
	}
	runRounds(ctx, o, l, targets, modes, sec, stderr)
	return ctx.Err()
}

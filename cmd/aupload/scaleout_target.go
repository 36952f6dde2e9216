package main

import (
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// spread is a target made of several processes (--replicas): gateway
// replicas that the clients take in turn, request by request, as a
// round-robin load balancer would, with what each replica served and what
// they and Redis spent counted per phase. The floor is a spread of one.
type spread struct {
	chats  []string // chat/completions URL per replica
	pids   []int    // the replicas' processes, for their CPU time
	redis  []string // the shared store's nodes (nil: no Redis), for INFO
	run    []int    // every process of the run, the harness too: its share of the machine
	turn   atomic.Uint64
	served []atomic.Int64 // answered requests per replica
}

func newSpread(chats []string, pids []int, redis []string, run []int) *spread {
	return &spread{chats: chats, pids: pids, redis: redis, run: run, served: make([]atomic.Int64, len(chats))}
}

// runCPU is the CPU time of every process of the run so far.
func (s *spread) runCPU() time.Duration {
	var sum time.Duration
	for _, pid := range s.run {
		c, _ := cpuTime(pid)
		sum += c
	}
	return sum
}

// next is the replica for the next request.
func (s *spread) next() (int, string) {
	i := int((s.turn.Add(1) - 1) % uint64(len(s.chats)))
	return i, s.chats[i]
}

// served counts an answered request, on the replica that answered it too.
func (w *worker) served(t *target, pick int) {
	w.ok++
	if t.spread != nil {
		t.spread.served[pick].Add(1)
	}
}

// spreadPhase is a spread's counters at the start of a phase.
type spreadPhase struct {
	s      *spread
	cpu    []time.Duration
	served []int64
	redis  redisUse
	host   hostCPU
	run    time.Duration
}

func (s *spread) begin() *spreadPhase {
	p := &spreadPhase{s: s, host: readHostCPU(), run: s.runCPU()}
	for i, pid := range s.pids {
		c, _ := cpuTime(pid)
		p.cpu = append(p.cpu, c)
		p.served = append(p.served, s.served[i].Load())
	}
	if s.redis != nil {
		p.redis = redisSnapshot(s.redis)
	}
	return p
}

// end adds the phase's deltas to rec.
func (p *spreadPhase) end(rec *samples) {
	s := p.s
	host, run := readHostCPU(), s.runCPU()
	var red redisUse
	if s.redis != nil {
		red = redisSnapshot(s.redis)
	}
	sc := rec.scale
	if sc == nil {
		sc = &scaleSamples{cpu: make([]time.Duration, len(s.pids)), served: make([]int64, len(s.pids)), byCmd: map[string]int64{}}
		rec.scale = sc
	}
	for i, pid := range s.pids {
		c, err := cpuTime(pid)
		if err != nil {
			sc.cpuMissing = true
		}
		sc.cpu[i] += c - p.cpu[i]
		sc.served[i] += s.served[i].Load() - p.served[i]
	}
	sc.hostBusy += host.busy - p.host.busy
	sc.hostAll += host.all - p.host.all
	sc.run += run - p.run
	if s.redis == nil {
		return
	}
	if red.failed != nil || p.redis.failed != nil || len(red.cpu) != len(p.redis.cpu) {
		sc.redisMissing = true
		return
	}
	if sc.redisCPU == nil {
		sc.redisCPU = make([]time.Duration, len(red.cpu))
	}
	for i := range red.cpu {
		sc.redisCPU[i] += red.cpu[i] - p.redis.cpu[i]
	}
	for k, v := range red.byCmd {
		sc.byCmd[k] += v - p.redis.byCmd[k]
	}
}

// scaleSamples sums a spread target's phases.
type scaleSamples struct {
	cpu               []time.Duration // per replica
	served            []int64         // per replica
	redisCPU          []time.Duration // per Redis node; nil: no Redis
	byCmd             map[string]int64
	hostBusy, hostAll int64         // /proc/stat ticks of the whole machine
	run               time.Duration // CPU time of the run's processes
	cpuMissing        bool
	redisMissing      bool
}

// scaleStats is scaleSamples per answered request and per second.
type scaleStats struct {
	replicaRPS    []float64
	cpuPerReq     time.Duration   // all replicas together
	redisPerReq   []time.Duration // per node
	redisTotal    time.Duration   // all nodes
	redisBusy     []float64       // per node, share of one CPU
	cmdsPerReq    []cmdRate       // busiest first
	hostBusy      float64         // share of all the machine's CPUs
	runShare      float64         // the part of it this run's processes used
	cpuOK, redOK  bool
	hasRedis      bool
	replicaCounts []int64
}

type cmdRate struct {
	name string
	per  float64
}

func (sc *scaleSamples) stats(ok int, elapsed time.Duration) *scaleStats {
	if sc == nil || ok == 0 || elapsed <= 0 {
		return nil
	}
	st := &scaleStats{cpuOK: !sc.cpuMissing, hasRedis: sc.redisCPU != nil || sc.redisMissing, redOK: sc.redisCPU != nil && !sc.redisMissing, replicaCounts: sc.served}
	var cpu time.Duration
	for i, c := range sc.cpu {
		cpu += c
		st.replicaRPS = append(st.replicaRPS, float64(sc.served[i])/elapsed.Seconds())
	}
	st.cpuPerReq = cpu / time.Duration(ok)
	for _, c := range sc.redisCPU {
		st.redisPerReq = append(st.redisPerReq, c/time.Duration(ok))
		st.redisTotal += c / time.Duration(ok)
		st.redisBusy = append(st.redisBusy, c.Seconds()/elapsed.Seconds())
	}
	for k, v := range sc.byCmd {
		if v > 0 {
			st.cmdsPerReq = append(st.cmdsPerReq, cmdRate{k, float64(v) / float64(ok)})
		}
	}
	slices.SortFunc(st.cmdsPerReq, func(a, b cmdRate) int {
		if a.per != b.per {
			if a.per > b.per {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	if sc.hostAll > 0 {
		st.hostBusy = float64(sc.hostBusy) / float64(sc.hostAll)
	}
	if cap := elapsed.Seconds() * float64(runtime.NumCPU()); cap > 0 {
		st.runShare = sc.run.Seconds() / cap
	}
	return st
}

// hostCPU is the machine's CPU time from /proc/stat's "cpu" line, in ticks:
// busy is everything but idle and iowait.
type hostCPU struct{ busy, all int64 }

func readHostCPU() hostCPU {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return hostCPU{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return hostCPU{}
	}
	var h hostCPU
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i >= 8 { // guest time is counted in user already
			break
		}
		h.all += n
		if i != 3 && i != 4 { // idle, iowait
			h.busy += n
		}
	}
	return h
}

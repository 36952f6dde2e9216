// Package metrics holds the gateway's operational series beyond requests
// and latency (those are middleware.Metrics): enforcement, store, spool,
// webhooks, policy and guard model. The packages that do the work own
// small instruments defined here (atomic counters, a bounded label tally,
// a fixed-bucket histogram) and increment them; Register exposes them to
// Prometheus, read at scrape time, so the request path never touches a
// Prometheus type. This package imports nothing of ours.
//
// Labels take bounded values only: categories, actions, sources, outcomes,
// store operations, the policy version hash. Never user ids, app keys or
// decision ids.
package metrics

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Enforcement is what internal/enforce counts.
type Enforcement struct {
	// Reports recorded (stored, or spooled while the store is down), one
	// per category of the report: key {category, action, source}.
	Reports Tally
	// Escalations the store applied automatically: key {action} (suspend | ban).
	Escalations Tally
	// StoreErrors are failed store calls of the enforcer: key {operation}.
	StoreErrors Tally
	// Spool events.
	Spooled      atomic.Int64 // reports written to the spool
	Replayed     atomic.Int64 // spooled reports the store accepted on replay
	SpoolFailed  atomic.Int64 // spool writes that failed: the report was lost (Report returned an error)
	SpoolInvalid atomic.Int64 // spooled reports the store refused as invalid on replay (dropped)
}

// Policy is what internal/policy counts.
type Policy struct {
	ReloadsOK     atomic.Int64 // reloads (SIGHUP, watcher) that loaded a bundle, changed or not
	ReloadsFailed atomic.Int64 // reloads that failed; the bundle in force stayed
	LoadedAt      atomic.Int64 // Unix seconds of the last successful load
	Classifier    Classifier
	// UnscannedParts are the parts of decided requests no detector read:
	// key {kind} (image_url, input_audio, file, ...).
	UnscannedParts Tally
	// UnscannedRequests are the decided requests carrying any: key {action}.
	UnscannedRequests Tally
}

// Classifier is what the guard-model client counts.
type Classifier struct {
	// Calls by verdict: key {verdict} (safe | unsafe | timeout | error).
	Calls   Tally
	Latency Histogram // time of each call, whatever its verdict
}

// Key is up to three label values; unused ones stay "".
type Key [3]string

// maxKeys bounds a Tally: label values come from bounded sets (the
// taxonomy, fixed outcomes), but a custom policy could name categories at
// will, and a scrape must stay small whatever it does.
const maxKeys = 512

// Overflow is the key counted once a Tally holds maxKeys keys.
var Overflow = Key{"other", "other", "other"}

// Tally is a set of counters by key, safe for concurrent use. Counting
// locks a mutex: meant for events far rarer than requests (reports,
// errors, guard-model calls), never the per-request path.
type Tally struct {
	mu sync.Mutex
	m  map[Key]int64
}

// Add adds n to k (to Overflow when the tally is full and k is new).
func (t *Tally) Add(k Key, n int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = make(map[Key]int64, 8)
	}
	if _, ok := t.m[k]; !ok && len(t.m) >= maxKeys {
		k = Overflow
	}
	t.m[k] += n
}

// Inc adds one to the key made of labels.
func (t *Tally) Inc(labels ...string) {
	var k Key
	copy(k[:], labels)
	t.Add(k, 1)
}

// Get returns the count of k.
func (t *Tally) Get(labels ...string) int64 {
	var k Key
	copy(k[:], labels)
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[k]
}

// Snapshot returns the counts, sorted by key.
func (t *Tally) Snapshot() []Count {
	t.mu.Lock()
	out := make([]Count, 0, len(t.m))
	for k, n := range t.m {
		out = append(out, Count{k, n})
	}
	t.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Key, out[j].Key
		for x := range a {
			if a[x] != b[x] {
				return a[x] < b[x]
			}
		}
		return false
	})
	return out
}

// Count is one counter of a Tally.
type Count struct {
	Key Key
	N   int64
}

// LatencyBuckets are the upper bounds, in seconds, of Histogram: a guard
// model answers in tens of milliseconds to seconds (its timeout).
var LatencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10}

// Histogram counts durations in LatencyBuckets, lock-free.
type Histogram struct {
	buckets [12]atomic.Int64 // per bucket (not cumulative); the last is +Inf
	count   atomic.Int64
	sumNs   atomic.Int64
}

// Observe records one duration.
func (h *Histogram) Observe(d time.Duration) {
	s := d.Seconds()
	i := sort.SearchFloat64s(LatencyBuckets, s) // first bound >= s
	h.buckets[i].Add(1)
	h.count.Add(1)
	h.sumNs.Add(int64(d))
}

// Snapshot returns the count, the sum in seconds and the cumulative
// counts per upper bound, as Prometheus wants them.
func (h *Histogram) Snapshot() (count uint64, sum float64, cumulative map[float64]uint64) {
	cumulative = make(map[float64]uint64, len(LatencyBuckets))
	var acc int64
	for i, ub := range LatencyBuckets {
		acc += h.buckets[i].Load()
		cumulative[ub] = uint64(acc)
	}
	acc += h.buckets[len(LatencyBuckets)].Load()
	// count is read after the buckets, so it is never below their sum.
	return uint64(max(h.count.Load(), acc)), float64(h.sumNs.Load()) / 1e9, cumulative
}

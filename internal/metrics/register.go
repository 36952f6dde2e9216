package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Sources are what Register reads at each scrape; nil fields are skipped.
type Sources struct {
	Enforcement *Enforcement
	SpoolDepth  func() int  // reports waiting in the spool
	StoreUp     func() bool // the store answered at the last health check
	// Webhooks returns deliveries sent, dropped (queue full or closed) and
	// failed for good (webhook.Notifier.Stats).
	Webhooks   func() (sent, dropped, failed int64)
	Policy     *Policy
	PolicyHash func() string // version hash of the bundle in force
	// Auth returns failed credentials, requests refused while their source
	// was locked out, and lock-outs begun (authguard.Guard).
	Auth func() (failures, refused, lockouts uint64)
}

// StoreOperations are the enforcer's store calls that may fail (the
// operation label of aupguard_store_errors_total); each is exposed from
// the start, at 0, so a rate() over it has a beginning.
var StoreOperations = []string{"warm-up", "report", "ready", "ping", "subscribe", "resync", "replay", "rate_limit"}

// Names lists every series Register exposes (for the docs and the
// dashboard test).
var Names = []string{
	"aupguard_reports_total",
	"aupguard_escalations_total",
	"aupguard_store_errors_total",
	"aupguard_store_up",
	"aupguard_spool_depth",
	"aupguard_spool_reports_total",
	"aupguard_webhook_deliveries_total",
	"aupguard_policy_reloads_total",
	"aupguard_policy_info",
	"aupguard_policy_loaded_timestamp_seconds",
	"aupguard_classifier_calls_total",
	"aupguard_classifier_duration_seconds",
	"aupguard_unscanned_parts_total",
	"aupguard_unscanned_requests_total",
	"aupguard_auth_failures_total",
	"aupguard_auth_refused_total",
	"aupguard_auth_lockouts_total",
}

var (
	dReports = prometheus.NewDesc("aupguard_reports_total",
		"Abuse reports recorded (stored, or spooled while the store is down), once per category of each report.",
		[]string{"category", "action", "source"}, nil)
	dEscalations = prometheus.NewDesc("aupguard_escalations_total",
		"Automatic suspensions and bans applied by the store when a report crossed a threshold or the policy asked for one.",
		[]string{"action"}, nil)
	dStoreErrors = prometheus.NewDesc("aupguard_store_errors_total",
		"Failed store calls of the enforcer, by operation.", []string{"operation"}, nil)
	dStoreUp = prometheus.NewDesc("aupguard_store_up",
		"1 when the store answered at the last health check, else 0.", nil, nil)
	dSpoolDepth = prometheus.NewDesc("aupguard_spool_depth",
		"Reports waiting in the local spool for the store to return.", nil, nil)
	dSpool = prometheus.NewDesc("aupguard_spool_reports_total",
		"Spool events: spooled (written while the store was down), replayed (accepted by the store later), invalid (refused by the store on replay, dropped), failed (the spool write failed: the report was lost).",
		[]string{"event"}, nil)
	dWebhooks = prometheus.NewDesc("aupguard_webhook_deliveries_total",
		"Webhook deliveries: sent, failed (attempts exhausted or a permanent 4xx), dropped (queue full or shutting down).",
		[]string{"outcome"}, nil)
	dReloads = prometheus.NewDesc("aupguard_policy_reloads_total",
		"Policy reloads (SIGHUP or watcher), by result.", []string{"result"}, nil)
	dPolicyInfo = prometheus.NewDesc("aupguard_policy_info",
		"The policy bundle in force: its version hash as a label, value 1.", []string{"hash"}, nil)
	dLoadedAt = prometheus.NewDesc("aupguard_policy_loaded_timestamp_seconds",
		"Unix time of the last successful policy load.", nil, nil)
	dClsCalls = prometheus.NewDesc("aupguard_classifier_calls_total",
		"Guard-model calls, by verdict: safe, unsafe, timeout (no verdict within policy.classifier.timeout), error.",
		[]string{"verdict"}, nil)
	dUnscannedParts = prometheus.NewDesc("aupguard_unscanned_parts_total",
		"Parts of decided requests no detector read (images, audio, files, ...), by kind.", []string{"kind"}, nil)
	dUnscannedReqs = prometheus.NewDesc("aupguard_unscanned_requests_total",
		"Decided requests carrying parts no detector read, by the decision's action (policy.unscanned).", []string{"action"}, nil)
	dAuthFailures = prometheus.NewDesc("aupguard_auth_failures_total",
		"Wrong credentials (app keys, admin tokens, desk sign-ins) counted by the authentication throttle.", nil, nil)
	dAuthRefused = prometheus.NewDesc("aupguard_auth_refused_total",
		"Requests refused with 429 auth_throttled because their address or network was locked out.", nil, nil)
	dAuthLockouts = prometheus.NewDesc("aupguard_auth_lockouts_total",
		"Lock-outs begun by the authentication throttle (each also an audit entry).", nil, nil)
	dClsLatency = prometheus.NewDesc("aupguard_classifier_duration_seconds",
		"Time of each guard-model call, whatever its verdict.", nil, nil)
)

// Register adds the series of s to reg.
func Register(reg prometheus.Registerer, s Sources) error {
	return reg.Register(collector{s})
}

type collector struct{ s Sources }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dReports, dEscalations, dStoreErrors, dStoreUp, dSpoolDepth, dSpool,
		dWebhooks, dReloads, dPolicyInfo, dLoadedAt, dClsCalls, dClsLatency, dUnscannedParts, dUnscannedReqs,
		dAuthFailures, dAuthRefused, dAuthLockouts} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if e := c.s.Enforcement; e != nil {
		for _, n := range e.Reports.Snapshot() {
			counter(dReports, n.N, n.Key[0], n.Key[1], n.Key[2])
		}
		// Both escalations always appear, so a dashboard's rate() starts at 0.
		for _, a := range []string{"suspend", "ban"} {
			counter(dEscalations, e.Escalations.Get(a), a)
		}
		for _, n := range e.Escalations.Snapshot() {
			if n.Key[0] != "suspend" && n.Key[0] != "ban" {
				counter(dEscalations, n.N, n.Key[0])
			}
		}
		known := map[string]bool{}
		for _, op := range StoreOperations {
			known[op] = true
			counter(dStoreErrors, e.StoreErrors.Get(op), op)
		}
		for _, n := range e.StoreErrors.Snapshot() {
			if !known[n.Key[0]] {
				counter(dStoreErrors, n.N, n.Key[0])
			}
		}
		counter(dSpool, e.Spooled.Load(), "spooled")
		counter(dSpool, e.Replayed.Load(), "replayed")
		counter(dSpool, e.SpoolInvalid.Load(), "invalid")
		counter(dSpool, e.SpoolFailed.Load(), "failed")
	}
	if c.s.StoreUp != nil {
		v := 0.0
		if c.s.StoreUp() {
			v = 1
		}
		gauge(dStoreUp, v)
	}
	if c.s.SpoolDepth != nil {
		gauge(dSpoolDepth, float64(c.s.SpoolDepth()))
	}
	if c.s.Webhooks != nil {
		sent, dropped, failed := c.s.Webhooks()
		counter(dWebhooks, sent, "sent")
		counter(dWebhooks, failed, "failed")
		counter(dWebhooks, dropped, "dropped")
	}
	if p := c.s.Policy; p != nil {
		counter(dReloads, p.ReloadsOK.Load(), "ok")
		counter(dReloads, p.ReloadsFailed.Load(), "failed")
		gauge(dLoadedAt, float64(p.LoadedAt.Load()))
		seen := map[string]bool{}
		for _, v := range []string{"safe", "unsafe", "timeout", "error"} {
			seen[v] = true
			counter(dClsCalls, p.Classifier.Calls.Get(v), v)
		}
		for _, n := range p.Classifier.Calls.Snapshot() {
			if !seen[n.Key[0]] {
				counter(dClsCalls, n.N, n.Key[0])
			}
		}
		for _, n := range p.UnscannedParts.Snapshot() {
			counter(dUnscannedParts, n.N, n.Key[0])
		}
		for _, a := range []string{"allow", "flag", "block"} {
			counter(dUnscannedReqs, p.UnscannedRequests.Get(a), a)
		}
		for _, n := range p.UnscannedRequests.Snapshot() {
			if a := n.Key[0]; a != "allow" && a != "flag" && a != "block" {
				counter(dUnscannedReqs, n.N, a)
			}
		}
		count, sum, buckets := p.Classifier.Latency.Snapshot()
		ch <- prometheus.MustNewConstHistogram(dClsLatency, count, sum, buckets)
	}
	if c.s.PolicyHash != nil {
		gauge(dPolicyInfo, 1, c.s.PolicyHash())
	}
	if c.s.Auth != nil {
		f, r, l := c.s.Auth()
		counter(dAuthFailures, int64(f))
		counter(dAuthRefused, int64(r))
		counter(dAuthLockouts, int64(l))
	}
}

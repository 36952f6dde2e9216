package middleware

import (
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the gateway's Prometheus series. Labels take fixed values
// only (routes, status codes, decisions, reasons): never ids.
type Metrics struct {
	Requests *prometheus.CounterVec   // aupguard_requests_total{route,status,decision,reason}
	Latency  *prometheus.HistogramVec // aupguard_request_duration_seconds{route}
	Upstream *prometheus.HistogramVec // aupguard_upstream_duration_seconds{route,status}
}

// NewMetrics registers the series with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aupguard_requests_total", Help: "Requests served, by route, HTTP status, policy decision and refusal reason.",
		}, []string{"route", "status", "decision", "reason"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "aupguard_request_duration_seconds", Help: "Time to serve a request, streams included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18),
		}, []string{"route"}),
		Upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "aupguard_upstream_duration_seconds", Help: "Time from sending a request upstream to its response headers; status 0 = no response.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"route", "status"}),
	}
	if reg != nil {
		reg.MustRegister(m.Requests, m.Latency, m.Upstream)
	}
	return m
}

// ObserveUpstream fits proxy.Options.Observe.
func (m *Metrics) ObserveUpstream(route string, status int, d time.Duration) {
	m.Upstream.WithLabelValues(route, statusLabel(status)).Observe(d.Seconds())
}

// Handler counts every request when it ends.
func (m *Metrics) Handler() gin.HandlerFunc {
	return func(c *gin.Context) {
		st := StateOf(c)
		defer func() {
			route := st.Route()
			dec := st.Decision
			if dec == "" {
				dec = "none"
			}
			m.Requests.WithLabelValues(route, statusLabel(st.status(c)), dec, string(st.Reason)).Inc()
			m.Latency.WithLabelValues(route).Observe(time.Since(st.Start).Seconds())
		}()
		c.Next()
	}
}

var statusLabels = func() (s [600]string) {
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return
}()

func statusLabel(code int) string {
	if code >= 0 && code < len(statusLabels) {
		return statusLabels[code]
	}
	return "other"
}

package detector

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the detector's Prometheus series.
type Metrics struct {
	Events    *prometheus.CounterVec // by kind
	Alerts    *prometheus.CounterVec // by rule
	Rejected  *prometheus.CounterVec // by consumer and reason (SPEC §3 Operations)
	Lockouts  prometheus.Counter
	Active    prometheus.Gauge
	Conflicts prometheus.Counter
	Batch     prometheus.Histogram
	Pending   prometheus.Gauge
}

// NewMetrics registers the series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authwatch_detector_events_total",
			Help: "Events run through the rules and acknowledged, by kind.",
		}, []string{"kind"}),
		Alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authwatch_alerts_total",
			Help: "Alerts published, by rule (a redelivered event's alert counts again; JetStream keeps one).",
		}, []string{"rule"}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authwatch_events_rejected_total",
			Help: "Messages sent to AUTH_DLQ, by consumer and reason.",
		}, []string{"consumer", "reason"}),
		Lockouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authwatch_lockouts_written_total",
			Help: "IP lockouts written to KV auth_lockouts.",
		}),
		Active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authwatch_lockouts_active",
			Help: "IP lockouts in force now, all tenants (keys of auth_lockouts not yet expired).",
		}),
		Conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authwatch_detector_state_conflicts_total",
			Help: "State writes that lost a compare-and-set race to another detector and were applied again.",
		}),
		Batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "authwatch_detector_batch_seconds",
			Help:    "Time from pulling a batch to acknowledging it.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		Pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authwatch_consumer_pending_messages",
			Help: "Messages of AUTH_EVENTS not yet acknowledged by the detector consumer (lag).",
		}),
	}
	reg.MustRegister(m.Events, m.Alerts, m.Rejected, m.Lockouts, m.Active, m.Conflicts, m.Batch, m.Pending)
	return m
}

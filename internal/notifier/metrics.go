package notifier

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the notifier's Prometheus series.
type Metrics struct {
	Alerts      prometheus.Counter     // alerts fanned out and acknowledged
	Attempts    *prometheus.CounterVec // by result
	Deliveries  *prometheus.CounterVec // final outcomes: delivered, failed
	Retries     prometheus.Counter
	Deferred    prometheus.Counter // jobs put back because their webhook was busy
	Dropped     prometheus.Counter // jobs of webhooks deleted meanwhile
	Rejected    *prometheus.CounterVec
	AttemptTime prometheus.Histogram
	Latency     prometheus.Histogram // alert in AUTH_ALERTS → receiver's 2xx, first attempts
	Pending     prometheus.Gauge
	JobsPending prometheus.Gauge
}

// NewMetrics registers the series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Alerts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authwatch_notifier_alerts_total",
			Help: "Alerts taken from AUTH_ALERTS and fanned out into delivery jobs.",
		}),
		Attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authwatch_webhook_attempts_total",
			Help: "Webhook POST attempts by result: delivered, http_error, timeout, refused, error.",
		}, []string{"result"}),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authwatch_webhook_deliveries_total",
			Help: "Deliveries finished, by outcome: delivered, or failed once the retry schedule ran out.",
		}, []string{"outcome"}),
		Retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authwatch_webhook_retries_scheduled_total",
			Help: "Failed attempts whose next attempt was scheduled.",
		}),
		Deferred: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authwatch_webhook_deferred_total",
			Help: "Delivery jobs put back for a while because their webhook had its fill of attempts in flight.",
		}),
		Dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authwatch_webhook_dropped_total",
			Help: "Delivery jobs dropped because their webhook was deleted.",
		}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authwatch_events_rejected_total",
			Help: "Messages sent to AUTH_DLQ, by consumer and reason.",
		}, []string{"consumer", "reason"}),
		AttemptTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "authwatch_webhook_attempt_seconds",
			Help:    "Duration of webhook POST attempts.",
			Buckets: prometheus.ExponentialBuckets(0.002, 2, 14),
		}),
		Latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "authwatch_notifier_delivery_latency_seconds",
			Help:    "From an alert reaching AUTH_ALERTS to its receiver's 2xx, for deliveries that succeed at the first attempt.",
			Buckets: prometheus.ExponentialBuckets(0.002, 2, 14),
		}),
		Pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authwatch_consumer_pending_messages",
			Help: "Alerts of AUTH_ALERTS not yet fanned out by the notifier consumer (lag).",
		}),
		JobsPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authwatch_webhook_jobs_pending",
			Help: "Delivery jobs in AUTH_DELIVERIES not yet done, retries waiting for their time included.",
		}),
	}
	reg.MustRegister(m.Alerts, m.Attempts, m.Deliveries, m.Retries, m.Deferred, m.Dropped, m.Rejected,
		m.AttemptTime, m.Latency, m.Pending, m.JobsPending)
	return m
}

package ingest

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the ingest worker's Prometheus series.
type Metrics struct {
	Ingested      *prometheus.CounterVec // by kind
	Rejected      *prometheus.CounterVec // by consumer and reason (SPEC §3 Operations)
	BatchRows     prometheus.Histogram
	InsertSeconds prometheus.Histogram
	InsertErrors  prometheus.Counter
	Pending       prometheus.Gauge
}

// NewMetrics registers the series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Ingested: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authwatch_events_ingested_total",
			Help: "Events written to ClickHouse and acknowledged, by kind.",
		}, []string{"kind"}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authwatch_events_rejected_total",
			Help: "Messages sent to AUTH_DLQ, by consumer and reason.",
		}, []string{"consumer", "reason"}),
		BatchRows: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "authwatch_ingest_batch_rows",
			Help:    "Rows per ClickHouse insert.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}),
		InsertSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "authwatch_ingest_insert_seconds",
			Help:    "Time to write one batch to ClickHouse, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}),
		InsertErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authwatch_ingest_insert_errors_total",
			Help: "Failed ClickHouse insert attempts (each is retried).",
		}),
		Pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authwatch_consumer_pending_messages",
			Help: "Messages of AUTH_EVENTS not yet acknowledged by the ingest consumer (lag).",
		}),
	}
	reg.MustRegister(m.Ingested, m.Rejected, m.BatchRows, m.InsertSeconds, m.InsertErrors, m.Pending)
	return m
}

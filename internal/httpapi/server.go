// Package httpapi is authwatch's query API (SPEC §3) on Echo: routes,
// authentication, parameter validation, and the JSON and CSV answers. SQL
// lives in internal/store; handlers are small functions over it.
package httpapi

import (
	"log/slog"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authwatch/authwatch/internal/auth"
	"github.com/authwatch/authwatch/internal/notifier"
	"github.com/authwatch/authwatch/internal/notify"
	"github.com/authwatch/authwatch/internal/store"
)

// Deps is everything the API needs.
type Deps struct {
	Store    *store.Store
	Verifier *auth.Verifier
	Log      *slog.Logger
	Registry prometheus.Registerer
	Now      func() time.Time // the clock; time.Now in production

	// NATS is the core connection the alert stream subscribes on. While it is
	// nil or not connected, the alert stream and lockout routes answer 503.
	NATS *nats.Conn
	// Lockouts returns KV bucket auth_lockouts, or nil until it is declared
	// (the lockout routes answer 503 meanwhile).
	Lockouts func() jetstream.KeyValue
	// Keepalive is how often the alert stream writes a comment line when it
	// has nothing else to say; 10 s when zero (SPEC §3: at least every 15 s).
	Keepalive time.Duration
	// Done, when closed, ends every open alert stream, so the server can
	// shut down without waiting for clients that never hang up.
	Done <-chan struct{}
	// Eraser runs privacy erasures in the background; nil records the
	// request only.
	Eraser Eraser
	// Webhooks returns KV bucket auth_webhooks, or nil until it and stream
	// AUTH_DELIVERIES are declared (the webhook routes answer 503 meanwhile).
	Webhooks func() *notifier.Webhooks
	// WebhookURLs checks the URL of a webhook being registered
	// (WEBHOOK_ALLOW_PRIVATE, and the resolver).
	WebhookURLs notify.URLPolicy
}

// Server holds the dependencies the handlers use.
type Server struct {
	store     *store.Store
	verifier  *auth.Verifier
	log       *slog.Logger
	now       func() time.Time
	nc        *nats.Conn
	lockouts  func() jetstream.KeyValue
	keepalive time.Duration
	done      <-chan struct{}
	eraser    Eraser
	webhooks  func() *notifier.Webhooks
	urls      notify.URLPolicy
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
}

// New returns the API's Echo instance with every route of routes.go.
func New(d Deps) *echo.Echo {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Lockouts == nil {
		d.Lockouts = func() jetstream.KeyValue { return nil }
	}
	if d.Webhooks == nil {
		d.Webhooks = func() *notifier.Webhooks { return nil }
	}
	if d.Keepalive <= 0 {
		d.Keepalive = 10 * time.Second
	}
	s := &Server{store: d.Store, verifier: d.Verifier, log: d.Log, now: d.Now,
		nc: d.NATS, lockouts: d.Lockouts, keepalive: d.Keepalive, done: d.Done, eraser: d.Eraser,
		webhooks: d.Webhooks, urls: d.WebhookURLs,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authwatch_http_requests_total", Help: "API requests by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "authwatch_http_request_seconds", Help: "API latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}, []string{"route"}),
	}
	if d.Registry != nil {
		d.Registry.MustRegister(s.requests, s.latency)
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(d.Log)
	e.Use(s.observe)
	s.routes(e)
	return e
}

// observe counts requests and their latency by route pattern (never by raw
// path, which would let callers create series).
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		s.requests.WithLabelValues(route, strconv.Itoa(c.Response().Status)).Inc()
		s.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
		return nil
	}
}

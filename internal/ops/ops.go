// Package ops serves what operators probe on every service: /healthz (the
// process is up), /readyz (its dependencies answer) and /metrics
// (Prometheus), and sets up the JSON logger.
package ops

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewLogger returns the JSON logger every service writes to stderr.
func NewLogger(w io.Writer, service string) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo})).With("service", service)
}

// NewRegistry returns a registry with the Go runtime and process collectors;
// each service owns its own registry (no global state).
func NewRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Check is one readiness condition: nil when fine.
type Check func(ctx context.Context) error

// Readiness runs named checks in the background and remembers the outcome,
// so /readyz answers at once and a probe storm cannot load the dependencies.
type Readiness struct {
	mu     sync.RWMutex
	checks map[string]Check
	status map[string]string // name -> "" when ok, else the error
}

// NewReadiness returns a Readiness with no checks; add them with Add.
func NewReadiness() *Readiness {
	return &Readiness{checks: map[string]Check{}, status: map[string]string{}}
}

// Add registers a check; until it first runs it counts as not ready.
func (r *Readiness) Add(name string, c Check) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checks[name] = c
	r.status[name] = "not checked yet"
}

// Run re-evaluates every check each interval until ctx ends.
func (r *Readiness) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		r.evaluate(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *Readiness) evaluate(ctx context.Context) {
	r.mu.RLock()
	checks := make(map[string]Check, len(r.checks))
	for k, v := range r.checks {
		checks[k] = v
	}
	r.mu.RUnlock()
	for name, c := range checks {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := c(cctx)
		cancel()
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		r.mu.Lock()
		r.status[name] = msg
		r.mu.Unlock()
	}
}

// Ready reports whether every check passed, and each check's state.
func (r *Readiness) Ready() (bool, map[string]string) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ok := true
	out := make(map[string]string, len(r.status))
	for k, v := range r.status {
		if v != "" {
			ok = false
			out[k] = v
		} else {
			out[k] = "ok"
		}
	}
	return ok, out
}

// Handler serves /healthz, /readyz and /metrics.
func Handler(reg *prometheus.Registry, ready *Readiness) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, checks := ready.Ready()
		code := http.StatusOK
		if !ok {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, map[string]any{"ready": ok, "checks": checks})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Serve listens on addr and serves h until ctx ends, then shuts down
// gracefully. It reports the bound address on bound (useful with port 0).
func Serve(ctx context.Context, addr string, h http.Handler, log *slog.Logger, bound func(net.Addr)) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if bound != nil {
		bound(l.Addr())
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	log.Info("listening", "addr", l.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

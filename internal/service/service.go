// Package service is the start-up the worker services share (ingest,
// detector, notifier): a metrics registry, readiness checks, the NATS
// connection, /healthz /readyz /metrics on the service's address, and
// ClickHouse opened with retries. Each cmd/<name>/run.go wires its own
// streams and worker on top.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authwatch/authwatch/internal/bus"
	"github.com/authwatch/authwatch/internal/ops"
	"github.com/authwatch/authwatch/internal/store"
)

// Process is one running service's shared parts.
type Process struct {
	Log   *slog.Logger
	Reg   *prometheus.Registry
	Ready *ops.Readiness
	NC    *nats.Conn
	JS    jetstream.JetStream

	store  atomic.Pointer[store.Store]
	wg     sync.WaitGroup
	cancel context.CancelFunc
}

// Start connects to NATS (retrying in the background: the service reports
// not ready until it is connected, and until natsReady, when given, says
// so) and serves the operations endpoints on addr. The context it returns
// ends when ctx does or Close is called; run the service's work under it.
func Start(ctx context.Context, name, addr string, getenv func(string) string, log *slog.Logger,
	natsReady func() error) (*Process, context.Context, error) {
	p := &Process{Log: log, Reg: ops.NewRegistry(), Ready: ops.NewReadiness()}
	nc, err := bus.Connect(bus.ConfigFromEnv(getenv), "authwatch-"+name, log)
	if err != nil {
		return nil, ctx, err
	}
	p.NC = nc
	p.Ready.Add("nats", func(context.Context) error {
		if !nc.IsConnected() {
			return errors.New("not connected to " + nc.Opts.Servers[0])
		}
		if natsReady != nil {
			return natsReady()
		}
		return nil
	})
	p.Ready.Add("clickhouse", func(ctx context.Context) error {
		s := p.store.Load()
		if s == nil {
			return errors.New("connecting and applying migrations")
		}
		return s.Ping(ctx)
	})
	if p.JS, err = jetstream.New(nc); err != nil {
		nc.Close()
		return nil, ctx, err
	}
	ctx, p.cancel = context.WithCancel(ctx)
	serveErr := make(chan error, 1)
	p.Go(func() { serveErr <- ops.Serve(ctx, addr, ops.Handler(p.Reg, p.Ready), log, nil) })
	p.Go(func() { p.Ready.Run(ctx, 2*time.Second) })
	select {
	case err := <-serveErr:
		p.Close()
		return nil, ctx, fmt.Errorf("listen %s: %w", addr, err)
	case <-time.After(50 * time.Millisecond):
	}
	return p, ctx, nil
}

// Go runs f in a goroutine Close waits for.
func (p *Process) Go(f func()) {
	p.wg.Add(1)
	go func() { defer p.wg.Done(); f() }()
}

// OpenStore opens ClickHouse (applying migrations), retrying until it
// answers or ctx ends; readiness follows it.
func (p *Process) OpenStore(ctx context.Context, getenv func(string) string) (*store.Store, error) {
	cfg, err := store.ConfigFromEnv(getenv)
	if err != nil {
		return nil, err // a setting to fix: no retry mends it
	}
	err = bus.Retry(ctx, p.Log, "open clickhouse", func(ctx context.Context) error {
		s, err := store.Open(ctx, cfg)
		if err == nil {
			p.store.Store(s)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return p.store.Load(), nil
}

// Close ends the context Start returned, waits for the goroutines started
// with Go, and closes ClickHouse and NATS.
func (p *Process) Close() {
	p.cancel()
	p.wg.Wait()
	if s := p.store.Load(); s != nil {
		s.Close()
	}
	p.NC.Close()
}

// ShutdownErr turns "gave up because we were asked to stop" into a clean exit.
func ShutdownErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}
